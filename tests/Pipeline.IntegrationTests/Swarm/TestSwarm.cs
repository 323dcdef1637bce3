using Pipeline.Docker;
using Pipeline.Provisioning;
using Pipeline.Provisioning.Swarm;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// The 3-node test swarm, provisioned once for every test in this namespace exactly as
/// <c>./build.sh --target=ProvisionSwarm</c> does (found healthy and left alone when it already runs). A swarm this
/// fixture made from nothing is torn down at the end (unless PIPELINE_KEEP_SWARM=1). Nothing is skipped: a machine
/// that cannot run it fails these tests with the reason.
/// </summary>
[SetUpFixture]
public sealed class TestSwarm
{
    private static LocalSwarmReport? _report;
    private static readonly List<IDisposable> Owned = [];
    private bool _madeHere;

    /// <summary>
    /// The swarm's shape: the defaults ProvisionSwarm uses; or, with <c>PIPELINE_TEST_SWARM_ID=N</c> (1-9), a private
    /// swarm beside that one (its own state directory, bridge, subnet, overlay pool and namespaces) for a run that must
    /// not share the machine's test swarm. A private swarm this fixture made is torn down at the end like the default one.
    /// </summary>
    public static LocalSwarmOptions Options { get; } = ForId(Environment.GetEnvironmentVariable("PIPELINE_TEST_SWARM_ID"));

    private static LocalSwarmOptions ForId(string? id) => id switch
    {
        null or "" => new(),
        [>= '1' and <= '9'] => new()
        {
            StateDirectory = $"/var/lib/pipeline-swarm-{id}",
            Bridge = $"pswarm{id}",
            NamespacePrefix = $"pswarm{id}-n",
            Subnet = $"10.231.{id}0.0/24",
            OverlayAddressPool = $"10.{232 + (id[0] - '0')}.0.0/16",
        },
        _ => throw new InvalidOperationException($"PIPELINE_TEST_SWARM_ID={id}: must be one digit 1-9 (a private test swarm beside the default one), or unset."),
    };

    /// <summary>What provisioning found.</summary>
    public static LocalSwarmReport Report => _report ?? throw new InvalidOperationException("The test swarm was not provisioned.");

    /// <summary>The manager's Engine API over mutual TLS.</summary>
    public static DockerEndpoint Manager => LocalSwarm.ManagerEndpoint(Options);

    /// <summary>A node's own unix socket (for checks the manager cannot make, e.g. its containers).</summary>
    public static DockerEndpoint NodeSocket(int number) => new(Options.Node(number).SocketUri);

    /// <summary>Labels on everything these tests create on the swarm.</summary>
    public static IReadOnlyDictionary<string, string> TestLabels { get; } = new Dictionary<string, string> { ["pipeline.test"] = "swarm" };

    [OneTimeSetUp]
    public async Task Provision()
    {
        var runner = new ProcessCommandRunner();
        var managerPid = File.Exists(Options.Node(1).PidFile) && int.TryParse(File.ReadAllText(Options.Node(1).PidFile).Trim(), out var pid) ? pid : 0;
        _madeHere = managerPid == 0 || !runner.IsRunning(managerPid);
        using var cd = new DockerEngine(TestEnvironment.Docker);
        _report = await LocalSwarm.ForThisMachine(cd, TestContext.Progress.WriteLine).EnsureAsync(Options);
    }

    /// <summary>Keeps <paramref name="disposable"/> (e.g. a harness shared by several fixtures) until every swarm test ran.</summary>
    public static T Own<T>(T disposable)
        where T : IDisposable
    {
        lock (Owned)
        {
            Owned.Add(disposable);
        }

        return disposable;
    }

    /// <summary>Restarts what a test stopped (a killed node's dockerd) and waits until every node is Ready again.</summary>
    public static async Task<LocalSwarmReport> HealAsync()
    {
        using var cd = new DockerEngine(TestEnvironment.Docker);
        return _report = await LocalSwarm.ForThisMachine(cd, TestContext.Progress.WriteLine).EnsureAsync(Options);
    }

    [OneTimeTearDown]
    public async Task TearDown()
    {
        foreach (var owned in Enumerable.Reverse(Owned))
        {
            owned.Dispose();
        }

        Owned.Clear();
        if (_madeHere && Environment.GetEnvironmentVariable("PIPELINE_KEEP_SWARM") != "1")
        {
            using var cd = new DockerEngine(TestEnvironment.Docker);
            await LocalSwarm.ForThisMachine(cd, TestContext.Progress.WriteLine).TeardownAsync(Options);
        }
    }
}
