using Pipeline.Docker;
using Pipeline.Runtime;
using Pipeline.Testing;

namespace Pipeline.Tests.Support;

/// <summary>
/// A release runtime for fast tests of the rollback: removals and scaling are recorded in the engine's
/// <see cref="RemovalsOnlyEngine.Removed"/> (<c>release NAME</c>, <c>replicas NAME=N</c>), failing or hanging on the
/// names it is told; any other call fails the test: an undo has no business there.
/// </summary>
public sealed class RemovalsOnlyRuntime(RemovalsOnlyEngine engine) : IReleaseRuntime
{
    /// <inheritdoc />
    public OrchestratorKind Kind => OrchestratorKind.Containers;

    /// <inheritdoc />
    public IDockerEngine Engine => engine;

    /// <inheritdoc />
    public string Network => "removals-only";

    /// <inheritdoc />
    public Task RemoveAsync(ReleaseId release, TimeSpan stopTimeout, CancellationToken ct = default) => engine.RemoveAsync("release", release.Name, ct);

    /// <inheritdoc />
    public Task ScaleAsync(ReleaseId release, int replicas, CancellationToken ct = default) => engine.RemoveAsync("replicas", $"{release.Name}={replicas}", ct);

    private static Exception NotForAnUndo(string call) => new AssertionException($"An undo called the runtime's {call}.");

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> CheckAsync(RuntimeRequirements requirements, CancellationToken ct = default) => throw NotForAnUndo(nameof(CheckAsync));

    /// <inheritdoc />
    public Task<bool> NetworkExistsAsync(CancellationToken ct = default) => throw NotForAnUndo(nameof(NetworkExistsAsync));

    /// <inheritdoc />
    public Task EnsureNetworkAsync(CancellationToken ct = default) => throw NotForAnUndo(nameof(EnsureNetworkAsync));

    /// <inheritdoc />
    public Task<string> StartAsync(ReleaseSpec spec, IProgress<string>? progress = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(StartAsync));

    /// <inheritdoc />
    public Task<ReleaseAddresses> WaitHealthyAsync(ReleaseSpec spec, TimeSpan timeout, CancellationToken ct = default) => throw NotForAnUndo(nameof(WaitHealthyAsync));

    /// <inheritdoc />
    public Task<ReleaseAddresses?> AddressesAsync(ReleaseId release, int port, CancellationToken ct = default) => throw NotForAnUndo(nameof(AddressesAsync));

    /// <inheritdoc />
    public Task<IReadOnlyList<RuntimeRelease>> ListAsync(string service, CancellationToken ct = default) => throw NotForAnUndo(nameof(ListAsync));

    /// <inheritdoc />
    public Task<RuntimeSnapshot> SnapshotAsync(string service, CancellationToken ct = default) => throw NotForAnUndo(nameof(SnapshotAsync));

    /// <inheritdoc />
    public Task<TestRunResult> RunTestsAsync(TestRun run, RegistryCredentials? credentials, Action<string>? onOutput = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(RunTestsAsync));
}
