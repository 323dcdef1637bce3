using Pipeline.Docker;
using Pipeline.Testing;

namespace Pipeline.Runtime;

/// <summary>
/// Where releases run, as the stages see it: start a colour, wait until it is healthy (seen from the production side),
/// address it, scale it, remove it, snapshot it, and run a container beside it (integration tests). Two implementations:
/// <see cref="ContainerRuntime"/> (containers on one engine) and Swarm services (step 2 of issue 10).
/// Every resource it creates carries the release's labels; it finds them again by label, never by name.
/// Implementations know nothing of Cake.
/// </summary>
public interface IReleaseRuntime
{
    /// <summary>Which implementation this is: <see cref="OrchestratorKind.Containers"/> or <see cref="OrchestratorKind.Swarm"/>.</summary>
    OrchestratorKind Kind { get; }

    /// <summary>The production engine (a swarm manager for swarm services): the proxy runs there too.</summary>
    IDockerEngine Engine { get; }

    /// <summary>The network releases, probes and integration-test containers share (a bridge, or an attachable overlay).</summary>
    string Network { get; }

    /// <summary>
    /// Checks, without changing anything, that a release with these needs can run here (e.g. on a swarm: the engine is a
    /// manager, enough nodes are ready, the placement constraints can be met, the network is usable).
    /// </summary>
    /// <returns>One line per problem, each naming the value and the fix; empty when all is well.</returns>
    Task<IReadOnlyList<string>> CheckAsync(RuntimeRequirements requirements, CancellationToken ct = default);

    /// <summary>True when <see cref="Network"/> exists (so a deploy knows whether to record its removal before creating it).</summary>
    Task<bool> NetworkExistsAsync(CancellationToken ct = default);

    /// <summary>Creates <see cref="Network"/> with <paramref name="labels"/> (role, deploy id) when it is missing.</summary>
    Task EnsureNetworkAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);

    /// <summary>
    /// The name of a long-lived probe for <see cref="Network"/> that <see cref="StartAsync"/> should start beside the
    /// release (set it as <see cref="ReleaseSpec.Probe"/> after recording <c>remove-container</c> of it), or null when one
    /// runs there already, or when this runtime starts a probe for each health check instead.
    /// </summary>
    Task<string?> ProbeToStartAsync(CancellationToken ct = default);

    /// <summary>
    /// Starts a release (pulling its image where it runs); returns its name. Record <c>remove-release</c> in the journal
    /// first: everything this creates carries the release's labels, so a removal finds it even when this fails halfway.
    /// </summary>
    Task<string> StartAsync(ReleaseSpec spec, IProgress<string>? progress = null, CancellationToken ct = default);

    /// <summary>
    /// Waits until every replica of the release runs and answers its health path with 2xx, asked from the production side
    /// (a probe container on <see cref="Network"/>), and returns where it answers.
    /// </summary>
    /// <exception cref="ReleaseUnhealthyException">A replica stopped, could not be placed or started, or did not answer in time; the message says which and why.</exception>
    Task<ReleaseAddresses> WaitHealthyAsync(ReleaseSpec spec, TimeSpan timeout, CancellationToken ct = default);

    /// <summary>Where a release answers now (one endpoint per running replica), or null when nothing of it runs.</summary>
    Task<ReleaseAddresses?> AddressesAsync(ReleaseId release, int port, CancellationToken ct = default);

    /// <summary>Every release of a service the runtime holds (found by its labels), including what crashed runs left.</summary>
    Task<IReadOnlyList<RuntimeRelease>> ListAsync(string service, CancellationToken ct = default);

    /// <summary>Sets how many replicas a release runs (new ones are copies of the existing ones).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="replicas"/> is below 1.</exception>
    /// <exception cref="ReleaseNotFoundException">Nothing of the release runs, so there is nothing to copy.</exception>
    Task ScaleAsync(ReleaseId release, int replicas, CancellationToken ct = default);

    /// <summary>
    /// Removes everything of one release (containers or service, its volumes, its probes), found by its labels; nothing
    /// found is not an error. <paramref name="stopTimeout"/> is what a replica gets between SIGTERM and SIGKILL
    /// (zero: removed at once).
    /// </summary>
    Task RemoveAsync(ReleaseId release, TimeSpan stopTimeout, CancellationToken ct = default);

    /// <summary>The service's resources on this runtime in comparable form (see <see cref="RuntimeSnapshot"/>).</summary>
    Task<RuntimeSnapshot> SnapshotAsync(string service, CancellationToken ct = default);

    /// <summary>
    /// Runs a test container on the production side, on <see cref="Network"/>, where it reaches the release at
    /// <see cref="ReleaseAddresses.DirectUrl"/>; its image is pulled there first when the production engine is not the
    /// one that built it.
    /// </summary>
    /// <exception cref="TestsFailedException">The tests exited non-zero or ran out of time.</exception>
    Task<TestRunResult> RunTestsAsync(TestRun run, RegistryCredentials? credentials, Action<string>? onOutput = null, CancellationToken ct = default);
}
