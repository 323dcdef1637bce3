using Pipeline.Configuration;
using Pipeline.Runtime;
using Pipeline.Snapshots;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// Deploys onto the test swarm as a user would: the CD engine is this machine's dockerd, the production engine the swarm
/// manager over verified mutual TLS, images go to the swarm's HTTPS registry, the proxy runs on the manager publishing on
/// its address, releases are services on an overlay network of the harness's own.
/// </summary>
internal static class SwarmHarness
{
    /// <summary>The manager's address: where the proxy publishes.</summary>
    public static string ManagerAddress => TestSwarm.Options.Node(1).Address.ToString();

    /// <summary>Options pointing the pipeline at the swarm (orchestrator left at auto: the manager's /info chooses swarm).</summary>
    public static DeploymentOptions Defaults => TestEnvironment.Defaults with
    {
        ProductionEngine = TestSwarm.Manager,
        ImageRegistry = TestSwarm.Options.Registry,
        ProxyImage = TestSwarm.Options.ProxyImage,
        ProbeImage = TestSwarm.Options.ProbeImage,
        Orchestrator = OrchestratorKind.Auto,
    };

    /// <summary>A harness on the swarm (its runtime is the swarm one).</summary>
    public static PipelineHarness Create(string proxyKind = "haproxy") =>
        new(proxyKind, "swarm", Defaults with { Orchestrator = OrchestratorKind.Swarm }, ManagerAddress);

    /// <summary>Options for one deploy through <paramref name="harness"/>: its overlay, proxy on the manager, and the auto orchestrator.</summary>
    public static DeploymentOptions For(PipelineHarness harness, string directory, string version, string? service = null) =>
        harness.OptionsFor(directory, version, service: service) with
        {
            Orchestrator = OrchestratorKind.Auto,
            HealthTimeout = TimeSpan.FromSeconds(60),
            SwitchTimeout = TimeSpan.FromSeconds(30),
        };
}

/// <summary>A service live in blue (1.0.0) on the swarm behind a swarm harness, deployed once and shared by the tests that change nothing.</summary>
internal sealed class SwarmLiveService
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static SwarmLiveService? _shared;
    private static int _versions = 1;

    private SwarmLiveService(PipelineHarness harness, string service, string directory)
    {
        Harness = harness;
        Service = service;
        Directory = directory;
    }

    public PipelineHarness Harness { get; }

    public string Service { get; }

    public string Directory { get; }

    /// <summary>
    /// The shared live service, deployed on first use (the swarm fixture removes it at the end), and again when an earlier
    /// test left it not serving blue through its proxy, so that test's failure does not become every later test's.
    /// </summary>
    public static async Task<SwarmLiveService> SharedAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_shared is { } shared)
            {
                string answer;
                try
                {
                    var (status, served, _) = await shared.Harness.GetThroughProxyAsync();
                    if (status == System.Net.HttpStatusCode.OK && served == "blue")
                    {
                        return shared;
                    }

                    answer = $"answers {(int)status} from '{served}'";
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    answer = $"does not answer ({e.Message})";
                }

                TestContext.Progress.WriteLine($"The shared live service {shared.Service} {answer}, not 200 from blue: an earlier test left it broken; deploying a new one.");
            }

            return _shared = await DeployAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>A new service deployed in blue (1.0.0) on its own harness.</summary>
    public static async Task<SwarmLiveService> DeployAsync(string prefix = "sw", Func<DeploymentOptions, DeploymentOptions>? configure = null)
    {
        var harness = TestSwarm.Own(SwarmHarness.Create());
        var service = TestEnvironment.UniqueName(prefix);
        var directory = harness.CreateService(service);
        var options = SwarmHarness.For(harness, directory, "1.0.0");
        var run = PipelineHarness.RunInProcess(configure?.Invoke(options) ?? options);
        run.ExitCode.ShouldBe(0, $"the live release of {service} deploys onto the swarm");
        await Task.CompletedTask;
        return new SwarmLiveService(harness, service, directory);
    }

    /// <summary>A version no other run used.</summary>
    public static string NextVersion() => $"2.0.{Interlocked.Increment(ref _versions)}";

    /// <summary>A copy of the service's folder for one run of <paramref name="version"/>.</summary>
    public string NextDirectory(string version, string? failAt = null) => Harness.CreateService($"{Service}-{version}", failAt);

    public DeploymentOptions For(string directory, string version) => SwarmHarness.For(Harness, directory, version, Service);

    public Task<ProductionSnapshot> SnapshotAsync() => Harness.SnapshotAsync(Service);
}
