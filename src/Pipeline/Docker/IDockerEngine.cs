namespace Pipeline.Docker;

/// <summary>
/// The Docker Engine API as Pipeline uses it. Two instances exist in a run: the CD engine
/// (tests, builds, pushes) and the production engine (releases, proxy). Implementations know
/// nothing of Cake; every call takes a cancellation token.
/// </summary>
public interface IDockerEngine : IDisposable
{
    /// <summary>The endpoint this engine talks to, for messages.</summary>
    DockerEndpoint Endpoint { get; }

    /// <summary>Checks the engine answers; throws <see cref="DockerEngineException"/> naming the endpoint otherwise.</summary>
    Task<string> PingAsync(CancellationToken ct = default);

    /// <summary>Builds an image from a folder and a Dockerfile inside it; returns the image id. Build errors throw.</summary>
    Task<string> BuildImageAsync(ImageBuildRequest request, IProgress<string>? progress = null, CancellationToken ct = default);

    /// <summary>Tags an existing local image.</summary>
    Task TagImageAsync(string source, ImageRef target, CancellationToken ct = default);

    /// <summary>Pushes an image to its registry; returns the manifest digest (sha256:…).</summary>
    Task<string> PushImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default);

    /// <summary>Pulls an image from its registry.</summary>
    Task PullImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default);

    /// <summary>True when the engine has the image (by reference or id).</summary>
    Task<bool> ImageExistsAsync(string reference, CancellationToken ct = default);

    /// <summary>What the engine knows of an image (by reference or id): its id, registry digests and exposed ports; null when it lacks it.</summary>
    Task<ImageInfo?> InspectImageAsync(string reference, CancellationToken ct = default);

    /// <summary>Imports a root filesystem tarball as an image (like <c>docker import</c>).</summary>
    Task ImportImageAsync(Stream rootfsTar, ImageRef target, IReadOnlyList<string>? changes = null, CancellationToken ct = default);

    /// <summary>Creates (does not start) a container; returns its id.</summary>
    Task<string> CreateContainerAsync(ContainerSpec spec, CancellationToken ct = default);

    /// <summary>Starts a created container.</summary>
    Task StartContainerAsync(string id, CancellationToken ct = default);

    /// <summary>Stops a container; a missing or stopped container is not an error.</summary>
    Task StopContainerAsync(string id, TimeSpan timeout, CancellationToken ct = default);

    /// <summary>Removes a container (force, with its anonymous volumes); a missing container is not an error.</summary>
    Task RemoveContainerAsync(string id, CancellationToken ct = default);

    /// <summary>Inspects a container by id or name; null when it does not exist.</summary>
    Task<ContainerInfo?> InspectContainerAsync(string idOrName, CancellationToken ct = default);

    /// <summary>Lists containers (running and stopped) carrying all of the given labels.</summary>
    Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);

    /// <summary>Waits for a container to exit; returns its exit code.</summary>
    Task<long> WaitContainerAsync(string id, CancellationToken ct = default);

    /// <summary>Follows a container's stdout and stderr, line by line, until it exits.</summary>
    Task StreamLogsAsync(string id, Action<string> onLine, CancellationToken ct = default);

    /// <summary>Runs a command inside a running container and collects its output.</summary>
    Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, CancellationToken ct = default);

    /// <summary>
    /// Starts a process inside a running container with its stdin and stdout attached and keeps it running, for a
    /// conversation of many commands over one exec (e.g. <c>socat</c> to an admin socket). Dispose it to end it.
    /// </summary>
    Task<IExecSession> StartSessionAsync(string id, IReadOnlyList<string> command, CancellationToken ct = default) =>
        throw new NotSupportedException($"{GetType().Name} cannot attach to a process's stdin.");

    /// <summary>Writes one file into a container (through an archive upload), creating it or replacing it.</summary>
    Task PutFileAsync(string id, string path, byte[] content, CancellationToken ct = default);

    /// <summary>Writes several files into one folder of a container in one archive upload, creating or replacing them.</summary>
    async Task PutFilesAsync(string id, string directory, IReadOnlyDictionary<string, byte[]> files, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        foreach (var (name, content) in files)
        {
            await PutFileAsync(id, $"{directory.TrimEnd('/')}/{name}", content, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads one file from a container; null when it does not exist.</summary>
    Task<byte[]?> GetFileAsync(string id, string path, CancellationToken ct = default);

    /// <summary>Creates a bridge network when missing (labelled); returns its id.</summary>
    Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);

    /// <summary>Removes a network; a missing network is not an error.</summary>
    Task RemoveNetworkAsync(string name, CancellationToken ct = default);

    /// <summary>
    /// Removes the claim to create network <paramref name="name"/> that the deploy <paramref name="deployId"/> left (a
    /// run killed between claiming the name and creating the network); a claim of another deploy, or none, is left.
    /// </summary>
    Task RemoveNetworkClaimAsync(string name, string deployId, CancellationToken ct = default);

    /// <summary>Lists networks carrying all of the given labels.</summary>
    Task<IReadOnlyList<NetworkInfo>> ListNetworksAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);

    /// <summary>Creates a named volume (labelled); an existing one is returned as is.</summary>
    Task CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);

    /// <summary>Removes a volume; a missing volume is not an error.</summary>
    Task RemoveVolumeAsync(string name, CancellationToken ct = default);

    /// <summary>Lists volumes carrying all of the given labels.</summary>
    Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);
}
