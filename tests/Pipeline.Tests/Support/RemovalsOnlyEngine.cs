using Pipeline.Docker;

namespace Pipeline.Tests.Support;

/// <summary>
/// A production engine for fast tests of the rollback: it only removes (containers, volumes, networks), records each
/// removal in order, and can be told to fail or hang on a name. It lists no containers (recovery looks for orphaned
/// test containers); any other call fails the test: an undo has no business there.
/// </summary>
public sealed class RemovalsOnlyEngine : IDockerEngine
{
    private readonly List<string> _removed = [];

    /// <summary>What was removed, in order: <c>container NAME</c>, <c>volume NAME</c>, <c>network NAME</c>.</summary>
    public IReadOnlyList<string> Removed
    {
        get
        {
            lock (_removed)
            {
                return [.. _removed];
            }
        }
    }

    /// <summary>Removals of these names fail as if the engine did not answer.</summary>
    public HashSet<string> Unreachable { get; } = [];

    /// <summary>Removals of these names never finish (until their token is cancelled).</summary>
    public HashSet<string> Hanging { get; } = [];

    /// <inheritdoc />
    public DockerEndpoint Endpoint { get; } = new(new Uri("unix:///nonexistent/removals-only.sock"));

    /// <inheritdoc />
    public Task RemoveContainerAsync(string id, CancellationToken ct = default) => RemoveAsync("container", id, ct);

    /// <inheritdoc />
    public Task RemoveVolumeAsync(string name, CancellationToken ct = default) => RemoveAsync("volume", name, ct);

    /// <inheritdoc />
    public Task RemoveNetworkAsync(string name, CancellationToken ct = default) => RemoveAsync("network", name, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<ContainerInfo>>([]);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private async Task RemoveAsync(string what, string name, CancellationToken ct)
    {
        if (Hanging.Contains(name))
        {
            await Task.Delay(Timeout.Infinite, ct);
        }

        if (Unreachable.Contains(name))
        {
            throw new DockerEngineException($"Could not reach the Docker engine at {Endpoint} while removing {what} {name}: Connection refused");
        }

        lock (_removed)
        {
            _removed.Add($"{what} {name}");
        }
    }

    private static Exception NotForAnUndo(string call) => new AssertionException($"An undo called the engine's {call}.");

    /// <inheritdoc />
    public Task<string> PingAsync(CancellationToken ct = default) => throw NotForAnUndo(nameof(PingAsync));

    /// <inheritdoc />
    public Task<string> BuildImageAsync(ImageBuildRequest request, IProgress<string>? progress = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(BuildImageAsync));

    /// <inheritdoc />
    public Task TagImageAsync(string source, ImageRef target, CancellationToken ct = default) => throw NotForAnUndo(nameof(TagImageAsync));

    /// <inheritdoc />
    public Task<string> PushImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(PushImageAsync));

    /// <inheritdoc />
    public Task PullImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(PullImageAsync));

    /// <inheritdoc />
    public Task<bool> ImageExistsAsync(string reference, CancellationToken ct = default) => throw NotForAnUndo(nameof(ImageExistsAsync));

    /// <inheritdoc />
    public Task ImportImageAsync(Stream rootfsTar, ImageRef target, IReadOnlyList<string>? changes = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(ImportImageAsync));

    /// <inheritdoc />
    public Task<string> CreateContainerAsync(ContainerSpec spec, CancellationToken ct = default) => throw NotForAnUndo(nameof(CreateContainerAsync));

    /// <inheritdoc />
    public Task StartContainerAsync(string id, CancellationToken ct = default) => throw NotForAnUndo(nameof(StartContainerAsync));

    /// <inheritdoc />
    public Task StopContainerAsync(string id, TimeSpan timeout, CancellationToken ct = default) => throw NotForAnUndo(nameof(StopContainerAsync));

    /// <inheritdoc />
    public Task<ContainerInfo?> InspectContainerAsync(string idOrName, CancellationToken ct = default) => throw NotForAnUndo(nameof(InspectContainerAsync));

    /// <inheritdoc />
    public Task<long> WaitContainerAsync(string id, CancellationToken ct = default) => throw NotForAnUndo(nameof(WaitContainerAsync));

    /// <inheritdoc />
    public Task StreamLogsAsync(string id, Action<string> onLine, CancellationToken ct = default) => throw NotForAnUndo(nameof(StreamLogsAsync));

    /// <inheritdoc />
    public Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, CancellationToken ct = default) => throw NotForAnUndo(nameof(ExecAsync));

    /// <inheritdoc />
    public Task PutFileAsync(string id, string path, byte[] content, CancellationToken ct = default) => throw NotForAnUndo(nameof(PutFileAsync));

    /// <inheritdoc />
    public Task<byte[]?> GetFileAsync(string id, string path, CancellationToken ct = default) => throw NotForAnUndo(nameof(GetFileAsync));

    /// <inheritdoc />
    public Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw NotForAnUndo(nameof(EnsureNetworkAsync));

    /// <inheritdoc />
    public Task<IReadOnlyList<NetworkInfo>> ListNetworksAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw NotForAnUndo(nameof(ListNetworksAsync));

    /// <inheritdoc />
    public Task CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw NotForAnUndo(nameof(CreateVolumeAsync));

    /// <inheritdoc />
    public Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw NotForAnUndo(nameof(ListVolumesAsync));
}
