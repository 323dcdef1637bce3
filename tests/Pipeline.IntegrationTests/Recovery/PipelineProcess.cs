using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;

namespace Pipeline.IntegrationTests.Recovery;

/// <summary>
/// The repo's build program (build/Build.dll, built alongside this test project) running as a separate process,
/// isolated like <see cref="PipelineHarness"/> through its command line. Its output is read line by line, each
/// line stamped with when it was read, so a test can wait for a stage and SIGKILL the process there.
/// </summary>
internal sealed class PipelineProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<(TimeSpan At, string Line)> _lines = [];
    private readonly Channel<string> _arrivals = Channel.CreateUnbounded<string>();
    private readonly Stopwatch _clock;
    private readonly Task _readers;

    private PipelineProcess(Process process, Stopwatch clock)
    {
        _process = process;
        _clock = clock;
        _readers = Task.WhenAll(ReadAsync(process.StandardOutput), ReadAsync(process.StandardError))
            .ContinueWith(_ => _arrivals.Writer.TryComplete(), TaskScheduler.Default);
    }

    /// <summary>The process id (the pid the deploy lock records).</summary>
    public int Id => _process.Id;

    /// <summary>Every line so far, in the order read.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.Select(l => l.Line).ToList();
            }
        }
    }

    /// <summary>Everything it printed so far, for assertion messages.</summary>
    public string Output => string.Join('\n', Lines);

    /// <summary>The build program: build/bin/{this test assembly's configuration}/net10.0/Build.dll.</summary>
    public static string BuildProgram
    {
        get
        {
            var configuration = typeof(PipelineProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var dll = Path.Combine(TestEnvironment.RepositoryRoot, "build", "bin", configuration, "net10.0", "Build.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"The build program is not built at {dll}.", dll);
        }
    }

    /// <summary>The command-line options that isolate a run like <paramref name="harness"/>'s in-process runs.</summary>
    public static List<string> IsolatedArguments(PipelineHarness harness, string serviceDir, string? service = null, int lockTtlSeconds = 3) =>
    [
        $"--service-dir={serviceDir}",
        .. service is null ? Array.Empty<string>() : [$"--service={service}"],
        $"--key-prefix={harness.KeyPrefix}",
        $"--network={harness.Network}",
        $"--proxy={harness.ProxyKind}",
        $"--proxy-container={harness.ProxyContainer}",
        $"--proxy-port={harness.ProxyPort}",
        $"--proxy-image={TestEnvironment.ProxyImage}",
        $"--image-registry={TestEnvironment.ImageRegistry}",
        $"--registry-endpoints={TestEnvironment.Etcd}",
        $"--lock-ttl={lockTtlSeconds}",
        "--health-timeout=30",
        "--switch-timeout=15",
    ];

    /// <summary>
    /// Starts <c>dotnet Build.dll --target=<paramref name="target"/></c> with <paramref name="arguments"/>. The version
    /// goes in <c>PIPELINE_RELEASE_VERSION</c>; <paramref name="environment"/> adds or replaces variables.
    /// </summary>
    public static PipelineProcess Start(
        string target, string version, IEnumerable<string> arguments, Stopwatch? clock = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = TestEnvironment.RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(BuildProgram);
        start.ArgumentList.Add($"--target={target}");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PIPELINE_RELEASE_VERSION"] = version;
        start.Environment["NO_COLOR"] = "1";

        // A test run inside GitHub Actions must not write to the real job summary: only what the test gives counts.
        foreach (var github in new[] { "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT" })
        {
            start.Environment.Remove(github);
        }

        foreach (var (name, value) in TestEnvironment.EtcdEnvironment)
        {
            start.Environment[name] = value;
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        return new PipelineProcess(process, clock ?? Stopwatch.StartNew());
    }

    /// <summary>Waits until a line containing <paramref name="text"/> has been printed; returns when it was read.</summary>
    public async Task<TimeSpan> WaitForLineAsync(string text, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                lock (_lines)
                {
                    var found = _lines.FindIndex(l => l.Line.Contains(text, StringComparison.Ordinal));
                    if (found >= 0)
                    {
                        return _lines[found].At;
                    }
                }

                if (!await _arrivals.Reader.WaitToReadAsync(deadline.Token))
                {
                    throw new InvalidOperationException(
                        $"The pipeline exited with {ExitCodeOrNull()} before printing '{text}'. Its output:\n{Output}");
                }

                while (_arrivals.Reader.TryRead(out _))
                {
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"The pipeline did not print '{text}' within {timeout.TotalSeconds:0} s. Its output:\n{Output}");
        }
    }

    /// <summary>When the first line containing <paramref name="text"/> was read, or null.</summary>
    public TimeSpan? WhenPrinted(string text)
    {
        lock (_lines)
        {
            var found = _lines.FindIndex(l => l.Line.Contains(text, StringComparison.Ordinal));
            return found >= 0 ? _lines[found].At : null;
        }
    }

    /// <summary>SIGKILL: no handler, no rollback, no lock release runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
        await _readers;
    }

    /// <summary>Sends a signal (<c>INT</c> as Ctrl-C does, <c>TERM</c> as a service manager does) to the process, and only to it.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            ?? throw new InvalidOperationException("kill did not start.");
        kill.WaitForExit();
        kill.ExitCode.ShouldBe(0, $"kill -{signal} {_process.Id}");
    }

    /// <summary>Waits for the exit and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            throw new TimeoutException($"The pipeline did not finish within {timeout.TotalSeconds:0} s. Its output:\n{Output}");
        }

        await _readers;
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private string ExitCodeOrNull() => _process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";

    private async Task ReadAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_lines)
            {
                _lines.Add((_clock.Elapsed, line));
            }

            _arrivals.Writer.TryWrite(line);
        }
    }
}
