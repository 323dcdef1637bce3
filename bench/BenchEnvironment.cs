using System.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>
/// One isolated place to deploy into: a <see cref="PipelineHarness"/> (its own key prefix, network, proxy container
/// and free loopback port) for the pipeline, plus another network, proxy container and port for the baseline
/// script. The baseline's resources carry the harness's label; <see cref="CleanupAsync"/> removes everything,
/// including the local image tags of the services deployed here.
/// </summary>
internal sealed class BenchEnvironment : IDisposable
{
    private readonly List<string> _services = [];

    public BenchEnvironment(string proxyKind, DeploymentOptions defaults, int listenBacklog)
    {
        Harness = new PipelineHarness(proxyKind, "bench", defaults);
        BaselinePort = TestEnvironment.FreePort();
        ListenBacklog = listenBacklog;
    }

    /// <summary>The listen backlog of the services' copies of examples/hello; 0 for busybox httpd's own (9).</summary>
    public int ListenBacklog { get; }

    /// <summary>The host port the pipeline's proxy publishes HTTPS on, or null for none.</summary>
    public int? HttpsPort { get; set; }

    public PipelineHarness Harness { get; }
    public string Id => Harness.Id;
    public string ProxyKind => Harness.ProxyKind.Name;
    public int BaselinePort { get; }
    public string BaselineNetwork => $"{Harness.Network}-base";
    public string BaselineProxyContainer => $"{Harness.ProxyContainer}-base";

    /// <summary>A template the pipeline's deploys render with instead of the built-in one (e.g. one that logs every request).</summary>
    public string? ProxyTemplate { get; set; }

    /// <summary>
    /// A copy of examples/hello for <paramref name="service"/>, listening with <see cref="ListenBacklog"/>;
    /// <paramref name="failAt"/> (a TEST_TYPE) makes those tests fail.
    /// </summary>
    public string CreateService(string service, string? failAt = null)
    {
        lock (_services)
        {
            if (!_services.Contains(service))
            {
                _services.Add(service);
            }
        }

        var directory = Harness.CreateService(failAt is null ? service : $"{service}-fails-{failAt}", failAt);
        if (ListenBacklog > 0)
        {
            ExampleService.ListenWithBacklog(directory, ListenBacklog);
        }

        return directory;
    }

    public DeploymentOptions OptionsFor(string serviceDirectory, string service, string version, string route = "/") =>
        Harness.OptionsFor(serviceDirectory, version, route, service) with { ProxyTemplate = ProxyTemplate, HttpsPort = HttpsPort };

    /// <summary>Environment for bench/baseline.sh deploying <paramref name="service"/> into the baseline's own network and proxy.</summary>
    public Dictionary<string, string> BaselineEnvironment(string serviceDirectory, string service, string version) => new()
    {
        ["SERVICE_DIR"] = serviceDirectory,
        ["SERVICE"] = service,
        ["VERSION"] = version,
        ["NETWORK"] = BaselineNetwork,
        ["PROXY_CONTAINER"] = BaselineProxyContainer,
        ["PROXY_PORT"] = BaselinePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["PROXY_KIND"] = ProxyKind,
        ["IMAGE_REGISTRY"] = Harness.Defaults.ImageRegistry,
        ["PROXY_IMAGE"] = Harness.Defaults.ProxyImage,
        ["BENCH_LABEL"] = $"{PipelineHarness.Label}={Id}",
    };

    /// <summary>Removes every container, network, registry key, local image and file this bench created.</summary>
    public async Task CleanupAsync(Action<string> log)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var ct = cts.Token;
        var engine = Harness.Engine;
        var containers = new Dictionary<string, ContainerInfo>();
        foreach (var service in _services)
        {
            foreach (var c in await engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Service] = service }, ct))
            {
                containers[c.Id] = c;
            }
        }

        if (await engine.InspectContainerAsync(BaselineProxyContainer, ct) is { } proxy)
        {
            containers[proxy.Id] = proxy;
        }

        foreach (var c in containers.Values)
        {
            await engine.RemoveContainerAsync(c.Id, ct);
        }

        var removed = containers.Count + await Harness.CleanupAsync(ct);
        await engine.RemoveNetworkAsync(BaselineNetwork, ct);
        var images = _services.SelectMany(s => new[] { $"{Harness.Defaults.ImageRegistry}/{s}", $"{Harness.Defaults.ImageRegistry}/{s}/tests" }).ToList();
        var removedImages = RemoveLocalImages(images);
        log($"Cleaned up bench {Id}: {removed} containers, networks {Harness.Network}(-base), keys {Harness.KeyPrefix}/, {removedImages} local image tags.");
    }

    public void Dispose() => Harness.Dispose();

    private static int RemoveLocalImages(IReadOnlyList<string> repositories)
    {
        // The engine port has no image removal (the pipeline never removes images); the docker CLI does it here.
        var tags = new List<string>();
        foreach (var repository in repositories)
        {
            tags.AddRange(Docker(["images", "--format", "{{.Repository}}:{{.Tag}}", repository]).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }

        foreach (var batch in tags.Chunk(50))
        {
            Docker(["rmi", "-f", .. batch]);
        }

        return tags.Count;
    }

    private static string Docker(IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo("docker", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("docker could not be started.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return stdout.Result;
    }
}
