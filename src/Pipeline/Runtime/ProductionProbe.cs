using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Runtime;

/// <summary>
/// A labelled container on the release network of the production engine that asks a release's health path for the
/// pipeline: the pipeline's own machine may have no route to release addresses (another host, a swarm overlay). Each
/// request is an exec of <c>timeout 2 wget</c> in it (busybox's <c>wget -T</c> crashes). Disposing removes a probe this
/// object started, never one it was attached to (a network's long-lived probe).
/// </summary>
internal sealed partial class ProductionProbe : IAsyncDisposable
{
    /// <summary>How long one request may take.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan RemoveTimeout = TimeSpan.FromSeconds(30);
    private readonly IDockerEngine _engine;
    private readonly TimeProvider _time;
    private readonly bool _owned;

    private ProductionProbe(IDockerEngine engine, string id, string name, TimeProvider time, bool owned = true)
    {
        _engine = engine;
        Id = id;
        Name = name;
        _time = time;
        _owned = owned;
    }

    /// <summary>A probe that already runs (a network's long-lived one): asking through it; disposing leaves it running.</summary>
    public static ProductionProbe Attach(IDockerEngine engine, string id, string name, TimeProvider time) => new(engine, id, name, time, owned: false);

    /// <summary>The probe container's id.</summary>
    public string Id { get; }

    /// <summary>The probe container's name.</summary>
    public string Name { get; }

    /// <summary>Starts a probe (pulling its image when the engine lacks it); the caller records its removal first (its labels).</summary>
    /// <param name="engine">The production engine.</param>
    /// <param name="image">A busybox image with <c>timeout</c> and <c>wget</c>.</param>
    /// <param name="network">The network to ask on.</param>
    /// <param name="name">The container's name.</param>
    /// <param name="labels">Its labels (the release's, with role <see cref="Roles.Probe"/>).</param>
    /// <param name="credentials">For pulling the image, or null.</param>
    /// <param name="time">The clock of its removal timeout.</param>
    /// <param name="longLived">True for a network's long-lived probe: it comes back when the engine restarts.</param>
    /// <param name="ct">Cancels the start (the container is removed all the same).</param>
    public static async Task<ProductionProbe> StartAsync(
        IDockerEngine engine,
        string image,
        string network,
        string name,
        IReadOnlyDictionary<string, string> labels,
        RegistryCredentials? credentials,
        TimeProvider time,
        bool longLived,
        CancellationToken ct)
    {
        if (!await engine.ImageExistsAsync(image, ct).ConfigureAwait(false))
        {
            await engine.PullImageAsync(ImageRef.Parse(image), credentials, null, ct).ConfigureAwait(false);
        }

        var id = await engine.CreateContainerAsync(
            new ContainerSpec
            {
                Name = name,
                Image = image,
                Command = ["sleep", "2147483647"], // as long as any sleep can: a network's probe lives as long as its network
                Labels = labels,
                Network = network,
                RestartPolicy = longLived ? "unless-stopped" : "no",
            },
            ct).ConfigureAwait(false);
        var probe = new ProductionProbe(engine, id, name, time);
        try
        {
            await engine.StartContainerAsync(id, ct).ConfigureAwait(false);
        }
        catch
        {
            await probe.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return probe;
    }

    /// <summary>
    /// <see cref="StartAsync"/> within <paramref name="timeout"/> (the release's health timeout): an engine that stops
    /// answering fails the health check in time instead of hanging the deploy.
    /// </summary>
    /// <exception cref="ReleaseUnhealthyException">The probe did not start in time.</exception>
    public static async Task<ProductionProbe> StartWithinAsync(
        IDockerEngine engine,
        string image,
        string network,
        string name,
        IReadOnlyDictionary<string, string> labels,
        RegistryCredentials? credentials,
        TimeProvider time,
        TimeSpan timeout,
        string release,
        CancellationToken ct)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        try
        {
            return await StartAsync(engine, image, network, name, labels, credentials, time, longLived: false, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new ReleaseUnhealthyException(
                $"{release} did not become healthy within {timeout.TotalSeconds:0.#} s: the probe {name} ({image}) that asks its health path on {network} did not start in that time on {engine.Endpoint}; check that the engine answers and can pull {image}.");
        }
    }

    /// <summary>GETs <paramref name="url"/> from inside the probe: (true, "HTTP 2xx") or (false, what it answered instead).</summary>
    public async Task<(bool Ok, string Answer)> GetAsync(string url, CancellationToken ct)
    {
        var seconds = RequestTimeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture);
        var result = await _engine.ExecAsync(Id, ["timeout", seconds, "wget", "-q", "-O", "/dev/null", url], ct).ConfigureAwait(false);
        if (result.ExitCode == 0)
        {
            return (true, "HTTP 2xx");
        }

        var error = (result.Stderr.Trim() + "\n" + result.Stdout.Trim()).Trim();
        if (HttpStatus().Match(error) is { Success: true } status)
        {
            return (false, $"HTTP {status.Groups[1].Value}");
        }

        // busybox timeout ends wget with SIGTERM (143), coreutils' says 124.
        if (result.ExitCode is 124 or 137 or 143)
        {
            return (false, $"no answer within {seconds} s");
        }

        var line = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        return (false, line is null ? $"wget exited with {result.ExitCode}" : line.StartsWith("wget: ", StringComparison.Ordinal) ? line["wget: ".Length..] : line);
    }

    /// <summary>
    /// Removes the probe container when this object started it (with its own timeout: it goes even when the run was cancelled). An engine that does
    /// not answer is not an error here: the probe carries the release's labels, so the release's removal finds it later.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_owned)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(RemoveTimeout, _time);
            await _engine.RemoveContainerAsync(Id, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerEngineException or OperationCanceledException)
        {
        }
    }

    [GeneratedRegex(@"HTTP/\d\.\d (\d{3})")]
    private static partial Regex HttpStatus();
}
