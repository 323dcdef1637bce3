using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Snapshots;
using Pipeline.Tasks;

namespace Pipeline.IntegrationTests.Deploy;

/// <summary>
/// Runs the real pipeline in-process against the local engines, isolated from other tests: its own key
/// prefix, network, proxy container and proxy port. Disposing removes everything it created.
/// </summary>
internal sealed class PipelineHarness : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("pipeline-e2e"));
    private readonly string _id = Guid.NewGuid().ToString("N")[..6];

    public PipelineHarness(string proxyKind)
    {
        ProxyKind = proxyKind;
        ProxyPort = TestEnvironment.FreePort();
        KeyPrefix = $"test-{_id}";
        Network = $"pipeline-test-{_id}";
        ProxyContainer = $"pipeline-proxy-test-{_id}";
        Engine = new DockerEngine(TestEnvironment.Docker);
        Registry = new EtcdRegistry([TestEnvironment.Etcd]);
        Proxy = ProxyFactory.Create(
            new ProxyOptions { Kind = proxyKind, ContainerName = ProxyContainer, Image = ProxyImage, Network = Network, ListenAddress = "127.0.0.1", ListenPort = ProxyPort },
            Engine);
    }

    public const string ProxyImage = "127.0.0.1:5000/pipeline/proxy:bookworm-2";

    public string ProxyKind { get; }
    public int ProxyPort { get; }
    public string KeyPrefix { get; }
    public string Network { get; }
    public string ProxyContainer { get; }
    public IDockerEngine Engine { get; }
    public IServiceRegistry Registry { get; }
    public IProxy Proxy { get; }
    public ServiceCatalog Catalog => new(Registry, KeyPrefix);
    public Uri ProxyUrl => new($"http://127.0.0.1:{ProxyPort}/");

    /// <summary>A copy of examples/hello named <paramref name="service"/>; <paramref name="failAt"/> makes that TEST_TYPE fail.</summary>
    public string CreateService(string service, string? failAt = null) =>
        Build.Bench.ExampleService.CopyTo(RepositoryRoot, Path.Combine(_root, service), failAt);

    public DeploymentOptions OptionsFor(string serviceDir, string version, string route = "/") => new()
    {
        ServiceDirectory = serviceDir,
        Version = version,
        Route = route,
        ProxyKind = ProxyKind,
        ProxyPort = ProxyPort,
        ProxyContainer = ProxyContainer,
        ProxyImage = ProxyImage,
        Network = Network,
        KeyPrefix = KeyPrefix,
        RegistryEndpoints = [TestEnvironment.Etcd],
        ImageRegistry = TestEnvironment.ImageRegistry,
        HealthTimeout = TimeSpan.FromSeconds(30),
        SwitchTimeout = TimeSpan.FromSeconds(15),
    };

    /// <summary>Runs the pipeline in-process; returns the exit code.</summary>
    public static int Run(DeploymentOptions options, string target = "Deploy") =>
        new CakeHost()
            .UseContext<DeploymentContext>()
            .AddAssembly(typeof(Tasks.Deploy).Assembly)
            .ConfigureServices(services => services.AddSingleton(options))
            .Run([$"--target={target}"]);

    public Task<ProductionSnapshot> SnapshotAsync(string service) =>
        ProductionSnapshot.CaptureAsync(service, KeyPrefix, Network, Engine, Registry, Proxy);

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

    public void Dispose()
    {
        var labels = new Dictionary<string, string> { [Labels.Role] = "release" };
        foreach (var container in Engine.ListContainersAsync(labels).GetAwaiter().GetResult()
                     .Where(c => c.NetworkAddresses.ContainsKey(Network)))
        {
            Engine.RemoveContainerAsync(container.Id).GetAwaiter().GetResult();
        }

        Engine.RemoveContainerAsync(ProxyContainer).GetAwaiter().GetResult();
        Engine.RemoveNetworkAsync(Network).GetAwaiter().GetResult();
        Registry.DeletePrefixAsync(KeyPrefix + "/").GetAwaiter().GetResult();
        Registry.Dispose();
        Engine.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
        }
    }

}
