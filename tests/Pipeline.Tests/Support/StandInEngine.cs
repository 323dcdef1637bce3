using Pipeline.Docker;

namespace Pipeline.Tests.Support;

/// <summary>
/// A production engine for fast tests of the rollback: containers, volumes and networks held in memory with their
/// labels (and each container's address on its network), created, inspected, listed and removed the way the Engine API
/// does it. Records each removal in order, and can be told to fail or hang on a name. Any other call (images, exec,
/// files) fails the test: an undo has no business there.
/// </summary>
public sealed class StandInEngine : IDockerEngine
{
    private int _hangsInProgress;
    private readonly Lock _gate = new();
    private readonly List<string> _removed = [];
    private readonly Dictionary<string, ContainerInfo> _containers = [];
    private readonly Dictionary<string, VolumeInfo> _volumes = [];
    private readonly Dictionary<string, NetworkInfo> _networks = [];
    private int _addresses;

    /// <summary>What was removed, in order: <c>container NAME</c>, <c>volume NAME</c>, <c>network NAME</c>.</summary>
    public IReadOnlyList<string> Removed
    {
        get
        {
            lock (_gate)
            {
                return [.. _removed];
            }
        }
    }

    /// <summary>The names of the containers, volumes and networks there are now, as <c>container NAME</c> etc., ordered.</summary>
    public IReadOnlyList<string> Existing
    {
        get
        {
            lock (_gate)
            {
                return [.. _containers.Keys.Select(n => $"container {n}").Concat(_volumes.Keys.Select(n => $"volume {n}")).Concat(_networks.Keys.Select(n => $"network {n}")).Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Removals of these names fail as if the engine did not answer.</summary>
    public HashSet<string> Unreachable { get; } = [];

    /// <summary>Removals of these names never finish (until their token is cancelled).</summary>
    public HashSet<string> Hanging { get; } = [];

    /// <summary>How many calls are hanging now (on a name in <see cref="Hanging"/>).</summary>
    public int HangsInProgress => Volatile.Read(ref _hangsInProgress);

    /// <inheritdoc />
    public DockerEndpoint Endpoint { get; } = new(new Uri("unix:///nonexistent/stand-in.sock"));

    /// <summary>Adds a container (running, with an address on <paramref name="network"/> when given); returns it.</summary>
    public ContainerInfo AddContainer(string name, IReadOnlyDictionary<string, string> labels, string? network = null)
    {
        lock (_gate)
        {
            var addresses = network is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [network] = $"10.9.0.{++_addresses}" };
            var info = new ContainerInfo($"{Guid.NewGuid():N}", name, "image", "sha256:image", "running", labels, addresses);
            _containers[name] = info;
            return info;
        }
    }

    /// <summary>Adds a volume.</summary>
    public void AddVolume(string name, IReadOnlyDictionary<string, string> labels)
    {
        lock (_gate)
        {
            _volumes[name] = new VolumeInfo(name, labels);
        }
    }

    /// <summary>Adds a network.</summary>
    public void AddNetwork(string name, IReadOnlyDictionary<string, string> labels)
    {
        lock (_gate)
        {
            _networks[name] = new NetworkInfo($"{Guid.NewGuid():N}", name, labels);
        }
    }

    /// <inheritdoc />
    public Task<string> CreateContainerAsync(ContainerSpec spec, CancellationToken ct = default) =>
        Task.FromResult(AddContainer(spec.Name, spec.Labels, spec.Network).Id);

    /// <inheritdoc />
    public Task<ContainerInfo?> InspectContainerAsync(string idOrName, CancellationToken ct = default)
    {
        lock (_gate)
        {
            return Task.FromResult(Find(idOrName));
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<ContainerInfo>>([.. _containers.Values.Where(c => Matches(c.Labels, labels))]);
        }
    }

    /// <inheritdoc />
    public Task CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        AddVolume(name, labels);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<VolumeInfo>>([.. _volumes.Values.Where(v => Matches(v.Labels, labels))]);
        }
    }

    /// <inheritdoc />
    public Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (!_networks.ContainsKey(name))
            {
                AddNetwork(name, labels);
            }

            return Task.FromResult(_networks[name].Id);
        }
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<NetworkInfo>> ListNetworksAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<NetworkInfo>>([.. _networks.Values.Where(n => Matches(n.Labels, labels))]);
        }
    }

    /// <inheritdoc />
    public Task RemoveContainerAsync(string id, CancellationToken ct = default) =>
        RemoveAsync("container", id, ct, () =>
        {
            if (Find(id) is { } c)
            {
                _containers.Remove(c.Name);
                return c.Name;
            }

            return id;
        });

    /// <inheritdoc />
    public Task RemoveVolumeAsync(string name, CancellationToken ct = default) =>
        RemoveAsync("volume", name, ct, () =>
        {
            _volumes.Remove(name);
            return name;
        });

    /// <summary>Nothing to remove: this engine's networks are made without a claim volume.</summary>
    public Task RemoveNetworkClaimAsync(string name, string deployId, CancellationToken ct = default) => Task.CompletedTask;

    /// <inheritdoc />
    public Task RemoveNetworkAsync(string name, CancellationToken ct = default) =>
        RemoveAsync("network", name, ct, () =>
        {
            if (_containers.Values.Any(c => c.NetworkAddresses.ContainsKey(name)))
            {
                throw new DockerEngineException(
                    $"Removing network {name} on {Endpoint} failed: the engine answered 403 Forbidden: error while removing network: network {name} has active endpoints", 403);
            }

            _networks.Remove(name);
            return name;
        });

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private ContainerInfo? Find(string idOrName) =>
        _containers.TryGetValue(idOrName, out var byName) ? byName : _containers.Values.FirstOrDefault(c => c.Id == idOrName);

    private static bool Matches(IReadOnlyDictionary<string, string> have, IReadOnlyDictionary<string, string> want) =>
        want.All(w => have.TryGetValue(w.Key, out var v) && v == w.Value);

    private async Task RemoveAsync(string what, string name, CancellationToken ct, Func<string> remove)
    {
        string shown;
        lock (_gate)
        {
            shown = what == "container" && Find(name) is { } c ? c.Name : name;
        }

        if (Hanging.Contains(shown))
        {
            Interlocked.Increment(ref _hangsInProgress);
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                Interlocked.Decrement(ref _hangsInProgress);
            }
        }

        if (Unreachable.Contains(shown))
        {
            throw new DockerEngineException($"Could not reach the Docker engine at {Endpoint} while removing {what} {shown}: Connection refused");
        }

        lock (_gate)
        {
            var removed = remove();
            _removed.Add($"{what} {removed}");
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
    public Task<ImageInfo?> InspectImageAsync(string reference, CancellationToken ct = default) => throw NotForAnUndo(nameof(InspectImageAsync));

    /// <inheritdoc />
    public Task ImportImageAsync(Stream rootfsTar, ImageRef target, IReadOnlyList<string>? changes = null, CancellationToken ct = default) => throw NotForAnUndo(nameof(ImportImageAsync));

    /// <inheritdoc />
    public Task StartContainerAsync(string id, CancellationToken ct = default) => throw NotForAnUndo(nameof(StartContainerAsync));

    /// <inheritdoc />
    public Task StopContainerAsync(string id, TimeSpan timeout, CancellationToken ct = default) => throw NotForAnUndo(nameof(StopContainerAsync));

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
}
