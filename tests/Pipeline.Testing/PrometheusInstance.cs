using System.Diagnostics;
using Pipeline.Provisioning;

namespace Pipeline.Testing.Support;

/// <summary>
/// A private Prometheus for one bench run or test fixture: Debian's prometheus on a free loopback port with its own
/// data folder, history backfilled first with <c>promtool tsdb create-blocks-from openmetrics</c>. Stopped by its pid,
/// folder removed. `./build.sh --target=ProvisionLocalServices` installs the package (prometheus, promtool).
/// </summary>
public sealed class PrometheusInstance : IAsyncDisposable
{
    private readonly int _pid;

    private PrometheusInstance(string directory, int port, int pid)
    {
        Directory = directory;
        Url = new Uri($"http://127.0.0.1:{port}/");
        _pid = pid;
    }

    /// <summary>How long promtool took to backfill the history (zero without one).</summary>
    public TimeSpan BackfillTime { get; private set; }

    /// <summary>Where it answers.</summary>
    public Uri Url { get; }

    /// <summary>Its folder: config, data, log.</summary>
    public string Directory { get; }

    /// <summary>
    /// Backfills <paramref name="openMetrics"/> (may be null: no history), then starts Prometheus with
    /// <paramref name="config"/> and waits until it answers its API.
    /// </summary>
    public static async Task<PrometheusInstance> StartAsync(string? openMetrics, string config, CancellationToken ct = default)
    {
        var runner = new ProcessCommandRunner();
        var prometheus = runner.FindExecutable("prometheus");
        var promtool = runner.FindExecutable("promtool");
        if (prometheus is null || promtool is null)
        {
            throw new InvalidOperationException("prometheus and promtool are not installed: run ./build.sh --target=ProvisionLocalServices (or apt-get install --no-install-recommends prometheus).");
        }

        var directory = System.IO.Directory.CreateTempSubdirectory("pipeline-prometheus-it-").FullName;
        var data = Path.Combine(directory, "data");
        var backfillTime = TimeSpan.Zero;
        if (openMetrics is not null)
        {
            var input = Path.Combine(directory, "history.om");
            await File.WriteAllTextAsync(input, openMetrics, ct);
            var watch = Stopwatch.StartNew();
            var backfill = await runner.RunAsync(promtool!, ["tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=72h", "--quiet", input, data], ct: ct);
            backfill.EnsureSuccess("Backfilling the synthetic history");
            backfillTime = watch.Elapsed;
            File.Delete(input);
        }

        var configFile = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(configFile, config, ct);
        var port = TestEnvironment.FreePort();
        var pid = await runner.StartDetachedAsync(prometheus!,
        [
            $"--config.file={configFile}",
            $"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=60d",
            $"--web.listen-address=127.0.0.1:{port}",
        ], Path.Combine(directory, "prometheus.log"), ct);
        var instance = new PrometheusInstance(directory, port, pid) { BackfillTime = backfillTime };
        try
        {
            await instance.WaitReadyAsync(runner, ct);
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }

        return instance;
    }

    /// <summary>The end of its log, for failure messages.</summary>
    public string LogTail() => string.Join('\n', File.ReadLines(Path.Combine(Directory, "prometheus.log")).TakeLast(15));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var process = Process.GetProcessById(_pid);
            process.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // already gone
        }

        var runner = new ProcessCommandRunner();
        for (var waited = 0; runner.IsRunning(_pid) && waited < 200; waited++)
        {
            await Task.Delay(100);
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private async Task WaitReadyAsync(ProcessCommandRunner runner, CancellationToken ct)
    {
        var probe = new HttpServiceProbe();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var result = await probe.CheckPrometheusAsync(Url, TimeSpan.FromSeconds(2), ct);
            if (result.Reachable)
            {
                return;
            }

            if (!runner.IsRunning(_pid) || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"Prometheus (pid {_pid}) did not answer at {Url} ({result.Detail}); its log ends with:\n{LogTail()}");
            }

            await Task.Delay(200, ct);
        }
    }
}
