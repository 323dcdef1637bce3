using System.Diagnostics;
using System.Net;
using Cake.Core;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Snapshots;
using Pipeline.Tasks;

namespace Pipeline.Testing.Support;

/// <summary>
/// Runs the real pipeline in-process against the local engines, isolated from everything else on them: its own key
/// prefix, network, proxy container and free loopback proxy port, named <c>{purpose}-{Id}</c>. The integration tests
/// and the bench both deploy through it. <see cref="CleanupAsync"/> (or disposing) removes everything it created.
/// </summary>
public sealed class PipelineHarness : IDisposable
{
    /// <summary>The label (value: <see cref="Id"/>) on the harness's proxy and on whatever else a user of the harness labels as its own.</summary>
    public const string Label = "pipeline.harness";

    private readonly string _root;
    private readonly HashSet<string> _services = [];
    private bool _cleanedUp;

    /// <summary>Creates the names and clients; nothing is created on an engine until the pipeline runs.</summary>
    /// <param name="proxyKind">haproxy or nginx (a name, so test cases can pass it).</param>
    /// <param name="purpose">The first part of every name: <c>test</c> for the integration tests, <c>bench</c> for the bench.</param>
    /// <param name="defaults">
    /// Where the engines are (both Docker engines, etcd, image registry, proxy and probe images); <see cref="TestEnvironment.Defaults"/>
    /// when null. With <see cref="DeploymentOptions.Orchestrator"/> = swarm the releases are services on the swarm behind the
    /// production engine, on an overlay network of the harness's own.
    /// </param>
    /// <param name="proxyAddress">Where the proxy publishes its port: 127.0.0.1, or the swarm manager's address.</param>
    public PipelineHarness(string proxyKind, string purpose = "test", DeploymentOptions? defaults = null, string proxyAddress = "127.0.0.1")
    {
        ProxyAddress = proxyAddress;
        Id = Guid.NewGuid().ToString("N")[..6];
        ProxyKind = ProxyKind.Parse(proxyKind);
        Defaults = defaults ?? TestEnvironment.Defaults;
        ProxyPort = TestEnvironment.FreePort();
        KeyPrefix = $"{purpose}-{Id}";
        Network = $"pipeline-{purpose}-{Id}";
        ProxyContainer = $"pipeline-proxy-{purpose}-{Id}";
        _root = Path.Combine(Path.GetTempPath(), $"pipeline-{purpose}-{Id}");
        var engine = new DockerEngine(Defaults.ProductionEngine);
        Engine = engine;
        Registry = ServiceRegistries.Create(Defaults);
        Runtime = Defaults.Orchestrator == OrchestratorKind.Swarm
            ? new SwarmRuntime(engine, engine, Network, Defaults.ProbeImage, Defaults.EndpointMode)
            : new ContainerRuntime(engine, Network, Defaults.ProbeImage, builtHere: Defaults.ProductionEngine == Defaults.CdEngine);
        Proxy = ProxyFactory.Create(
            OptionsFor(_root, "0.0.0").ToProxyOptions() with { Labels = new Dictionary<string, string> { [Label] = Id } },
            Engine);
    }

    /// <summary>6 hex characters unique to this harness.</summary>
    public string Id { get; }
    public ProxyKind ProxyKind { get; }
    public DeploymentOptions Defaults { get; }
    public int ProxyPort { get; }
    public string KeyPrefix { get; }
    public string Network { get; }
    public string ProxyContainer { get; }
    public IDockerEngine Engine { get; }
    public IServiceRegistry Registry { get; }

    /// <summary>The release runtime the pipeline runs in this harness (containers on the production engine, or swarm services), on <see cref="Network"/>.</summary>
    public IReleaseRuntime Runtime { get; }
    public IProxy Proxy { get; }
    public ServiceCatalog Catalog => new(Registry, KeyPrefix);
    /// <summary>Where the proxy publishes its port (127.0.0.1, or the swarm manager's address).</summary>
    public string ProxyAddress { get; }
    public Uri ProxyUrl => new($"http://{ProxyAddress}:{ProxyPort}/");

    /// <summary>
    /// A copy of examples/hello in a folder named <paramref name="folder"/> (the service's name unless the options
    /// say otherwise); <paramref name="failAt"/> (a TEST_TYPE) makes those tests fail.
    /// </summary>
    public string CreateService(string folder, string? failAt = null)
    {
        _services.Add(folder);
        return ExampleService.CopyTo(TestEnvironment.RepositoryRoot, Path.Combine(_root, folder), failAt);
    }

    /// <summary>Options that deploy <paramref name="serviceDir"/> into this harness's environment.</summary>
    public DeploymentOptions OptionsFor(string serviceDir, string version, string route = "/", string? service = null) => Defaults with
    {
        Service = Track(service),
        ServiceDirectory = serviceDir,
        Version = version,
        Route = route,
        HostName = null,
        ProxyKind = ProxyKind,
        ProxyAddress = ProxyAddress,
        ProxyPort = ProxyPort,
        ProxyContainer = ProxyContainer,
        ProxyTemplate = null,
        Network = Network,
        KeyPrefix = KeyPrefix,
        HealthTimeout = TimeSpan.FromSeconds(30),
        SwitchTimeout = TimeSpan.FromSeconds(15),
    };

    private string? Track(string? service)
    {
        if (service is not null)
        {
            _services.Add(service);
        }

        return service;
    }

    /// <summary>Runs the pipeline in-process; returns the exit code.</summary>
    public static int Run(DeploymentOptions options, string target = "Deploy") => RunInProcess(options, target).ExitCode;

    /// <summary>
    /// Runs the pipeline in-process (a fresh Cake host per run) and keeps the run's <see cref="DeploymentState"/>;
    /// <paramref name="quiet"/> passes <c>--verbosity=quiet</c>.
    /// </summary>
    public static PipelineRunResult RunInProcess(DeploymentOptions options, string target = "Deploy", bool quiet = false)
    {
        var sink = new StateSink();
        var started = Stopwatch.GetTimestamp();
        var exit = new CakeHost()
            .UseContext<RecordingContext>()
            .AddAssembly(typeof(Deploy).Assembly)
            .ConfigureServices(services =>
            {
                services.AddSingleton(options);
                services.AddSingleton(sink);
            })
            .Run(quiet ? [$"--target={target}", "--verbosity=quiet"] : [$"--target={target}"]);
        return new PipelineRunResult(exit, Stopwatch.GetElapsedTime(started), sink.Context?.State);
    }

    public Task<ProductionSnapshot> SnapshotAsync(string service, CancellationToken ct = default) =>
        ProductionSnapshot.CaptureAsync(service, KeyPrefix, Runtime, Registry, Proxy, ct);

    public async Task<IReadOnlyList<ContainerInfo>> ReleasesAsync(string service) =>
        await Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Service] = service, [Labels.Role] = "release" });

    /// <summary>GET through the proxy with a fresh connection: (status, colour header, body).</summary>
    public async Task<(HttpStatusCode Status, string? Color, string Body)> GetThroughProxyAsync(string path = "/")
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(ProxyUrl, path));
        request.Headers.ConnectionClose = true;
        using var response = await http.SendAsync(request);
        var color = response.Headers.TryGetValues("X-Pipeline-Color", out var values) ? values.First() : null;
        return (response.StatusCode, color, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Removes the containers labelled <see cref="Label"/>=<see cref="Id"/>, the releases, probes and tests on this harness's network,
    /// its proxy, network, the images its services' deploys built, registry keys and service folders; returns how many
    /// containers it removed. Runs once.
    /// </summary>
    public async Task<int> CleanupAsync(CancellationToken ct = default)
    {
        if (_cleanedUp)
        {
            return 0;
        }

        _cleanedUp = true;
        foreach (var service in _services)
        {
            foreach (var release in await Runtime.ListAsync(service, ct))
            {
                await Runtime.RemoveAsync(release.Id, TimeSpan.Zero, ct);
            }
        }

        var containers = new Dictionary<string, ContainerInfo>();
        foreach (var c in await Engine.ListContainersAsync(new Dictionary<string, string> { [Label] = Id }, ct))
        {
            containers[c.Id] = c;
        }

        foreach (var role in new[] { Roles.Release, Roles.Probe, Roles.Test })
        {
            foreach (var c in (await Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Role] = role }, ct))
                         .Where(c => c.NetworkAddresses.ContainsKey(Network)))
            {
                containers[c.Id] = c;
            }
        }

        if (await Engine.InspectContainerAsync(ProxyContainer, ct) is { } proxy)
        {
            containers[proxy.Id] = proxy;
        }

        foreach (var c in containers.Values)
        {
            await Engine.RemoveContainerAsync(c.Id, ct);
        }

        await Engine.RemoveNetworkAsync(Network, ct);
        await RemoveBuiltImagesAsync(ct);
        await Registry.DeletePrefixAsync(KeyPrefix + "/", ct);
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }

        return containers.Count;
    }

    /// <summary>
    /// Removes the images the services' deploys built on the CD engine (each is the last of its build's steps; the steps
    /// before it may be other builds' too, so they stay). Otherwise every test leaves a few, and the engine's legacy
    /// builder scans all images on the same parent for each cached step: 11,000 of them made a cached build 0.3-0.5 s.
    /// </summary>
    private async Task RemoveBuiltImagesAsync(CancellationToken ct)
    {
        if (Defaults.CdEngine.TlsVerify)
        {
            return;
        }

        using var client = new global::Docker.DotNet.DockerClientBuilder().WithEndpoint(Defaults.CdEngine.Host).Build();
        foreach (var service in _services)
        {
            var filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{Labels.Service}={service}"] = true } };
            foreach (var image in await client.Images.ListImagesAsync(new global::Docker.DotNet.Models.ImagesListParameters { Filters = filters }, ct))
            {
                try
                {
                    await client.Images.DeleteImageAsync(image.ID, new global::Docker.DotNet.Models.ImageDeleteParameters { Force = true, NoPrune = true }, ct);
                }
                catch (global::Docker.DotNet.DockerApiException)
                {
                    // Gone already, or still used by a container another test started from it: it is left.
                }
            }
        }
    }

    /// <summary>Cleans up (when not done yet) and closes the clients.</summary>
    public void Dispose()
    {
        try
        {
            CleanupAsync().GetAwaiter().GetResult();
        }
        finally
        {
            Proxy.Dispose();
            Registry.Dispose();
            Engine.Dispose();
        }
    }

    /// <summary>Where the run's context leaves itself, so its state can be read after the run.</summary>
    public sealed class StateSink
    {
        public DeploymentContext? Context { get; set; }
    }

    /// <summary>The pipeline's context, registering itself with the sink.</summary>
    public sealed class RecordingContext : DeploymentContext
    {
        public RecordingContext(ICakeContext context, DeploymentOptions options, StateSink sink)
            : base(context, options)
        {
            sink.Context = this;
        }
    }
}

/// <summary>One in-process pipeline run: its exit code, wall time and the state its stages left.</summary>
public sealed record PipelineRunResult(int ExitCode, TimeSpan Wall, DeploymentState? State);
