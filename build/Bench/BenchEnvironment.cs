using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Pipeline;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Snapshots;

namespace Build.Bench;

/// <summary>
/// One isolated place to deploy into: its own key prefix, network, proxy container and free loopback port for
/// the pipeline, and another network, proxy container and port for the baseline script. Everything created
/// here carries the label <c>pipeline.bench={Id}</c> or a service name of this bench, and
/// <see cref="CleanupAsync"/> removes it all.
/// </summary>
internal sealed class BenchEnvironment : IDisposable
{
    private readonly List<string> _services = [];
    private readonly string _root;

    public BenchEnvironment(string proxyKind, string repositoryRoot, DeploymentOptions defaults)
    {
        Id = Guid.NewGuid().ToString("N")[..6];
        ProxyKind = proxyKind;
        RepositoryRoot = repositoryRoot;
        Defaults = defaults;
        ProxyPort = FreePort();
        BaselinePort = FreePort();
        KeyPrefix = $"bench-{Id}";
        Network = $"pipeline-bench-{Id}";
        ProxyContainer = $"pipeline-proxy-bench-{Id}";
        _root = Path.Combine(Path.GetTempPath(), $"pipeline-bench-{Id}");
        Engine = new DockerEngine(defaults.ProductionEngine);
        Registry = new EtcdRegistry(defaults.RegistryEndpoints);
        Proxy = ProxyFactory.Create(
            new ProxyOptions
            {
                Kind = proxyKind,
                ContainerName = ProxyContainer,
                Image = defaults.ProxyImage,
                Network = Network,
                ListenAddress = "127.0.0.1",
                ListenPort = ProxyPort,
                Labels = new Dictionary<string, string> { [BenchLabel] = Id },
            },
            Engine);
    }

    public const string BenchLabel = "pipeline.bench";

    public string Id { get; }
    public string ProxyKind { get; }
    public string RepositoryRoot { get; }
    public DeploymentOptions Defaults { get; }
    public int ProxyPort { get; }
    public int BaselinePort { get; }
    public string KeyPrefix { get; }
    public string Network { get; }
    public string ProxyContainer { get; }
    public IDockerEngine Engine { get; }
    public IServiceRegistry Registry { get; }
    public IProxy Proxy { get; }

    /// <summary>A template the pipeline's deploys render with instead of the built-in one (e.g. one that logs every request).</summary>
    public string? ProxyTemplate { get; set; }

    /// <summary>The bench's own scratch folder (removed at cleanup).</summary>
    public string ScratchDirectory => _root;

    /// <summary>A copy of examples/hello for <paramref name="service"/>; <paramref name="failAt"/> (a TEST_TYPE) makes those tests fail.</summary>
    public string CreateService(string service, string? failAt = null)
    {
        lock (_services)
        {
            if (!_services.Contains(service))
            {
                _services.Add(service);
            }
        }

        return ExampleService.CopyTo(RepositoryRoot, Path.Combine(_root, failAt is null ? service : $"{service}-fails-{failAt}"), failAt);
    }

    public DeploymentOptions OptionsFor(string serviceDirectory, string service, string version, string route = "/") => Defaults with
    {
        ServiceDirectory = serviceDirectory,
        Service = service,
        Version = version,
        Route = route,
        HostName = null,
        ProxyKind = ProxyKind,
        ProxyAddress = "127.0.0.1",
        ProxyPort = ProxyPort,
        ProxyContainer = ProxyContainer,
        Network = Network,
        KeyPrefix = KeyPrefix,
        ProxyTemplate = ProxyTemplate,
        HealthTimeout = TimeSpan.FromSeconds(30),
        SwitchTimeout = TimeSpan.FromSeconds(15),
    };

    public Task<ProductionSnapshot> SnapshotAsync(string service, CancellationToken ct = default) =>
        ProductionSnapshot.CaptureAsync(service, KeyPrefix, Network, Engine, Registry, Proxy, ct);

    /// <summary>Environment for bench/baseline.sh deploying <paramref name="service"/> into the baseline's own network and proxy.</summary>
    public Dictionary<string, string> BaselineEnvironment(string serviceDirectory, string service, string version) => new()
    {
        ["SERVICE_DIR"] = serviceDirectory,
        ["SERVICE"] = service,
        ["VERSION"] = version,
        ["NETWORK"] = $"{Network}-base",
        ["PROXY_CONTAINER"] = $"{ProxyContainer}-base",
        ["PROXY_PORT"] = BaselinePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["PROXY_KIND"] = ProxyKind,
        ["IMAGE_REGISTRY"] = Defaults.ImageRegistry,
        ["PROXY_IMAGE"] = Defaults.ProxyImage,
        ["BENCH_LABEL"] = $"{BenchLabel}={Id}",
    };

    /// <summary>Removes every container, network, registry key, local image and file this bench created.</summary>
    public async Task CleanupAsync(Action<string> log)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var ct = cts.Token;
        var containers = new Dictionary<string, ContainerInfo>();
        foreach (var c in await Engine.ListContainersAsync(new Dictionary<string, string> { [BenchLabel] = Id }, ct))
        {
            containers[c.Id] = c;
        }

        foreach (var service in _services)
        {
            foreach (var c in await Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Service] = service }, ct))
            {
                containers[c.Id] = c;
            }
        }

        foreach (var name in new[] { ProxyContainer, $"{ProxyContainer}-base" })
        {
            if (await Engine.InspectContainerAsync(name, ct) is { } proxy)
            {
                containers[proxy.Id] = proxy;
            }
        }

        foreach (var c in containers.Values)
        {
            await Engine.RemoveContainerAsync(c.Id, ct);
        }

        await Engine.RemoveNetworkAsync(Network, ct);
        await Engine.RemoveNetworkAsync($"{Network}-base", ct);
        await Registry.DeletePrefixAsync(KeyPrefix + "/", ct);
        var images = _services.SelectMany(s => new[] { $"{Defaults.ImageRegistry}/{s}", $"{Defaults.ImageRegistry}/{s}-tests" }).ToList();
        var removedImages = RemoveLocalImages(images);
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }

        log($"Cleaned up bench {Id}: {containers.Count} containers, networks {Network}(-base), keys {KeyPrefix}/, {removedImages} local image tags.");
    }

    public void Dispose()
    {
        Proxy.Dispose();
        Registry.Dispose();
        Engine.Dispose();
    }

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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
