namespace Pipeline.Docker;

/// <summary>A folder with a Dockerfile to build, and the tags the result gets.</summary>
/// <param name="ContextDirectory">The build context folder.</param>
/// <param name="Dockerfile">The Dockerfile's path relative to the context (e.g. <c>Dockerfile.tests</c>).</param>
/// <param name="Tags">Tags given to the built image.</param>
/// <param name="Labels">Labels given to the built image.</param>
/// <param name="BuildArgs">Build arguments.</param>
public sealed record ImageBuildRequest(
    string ContextDirectory,
    string Dockerfile,
    IReadOnlyList<ImageRef> Tags,
    IReadOnlyDictionary<string, string>? Labels = null,
    IReadOnlyDictionary<string, string>? BuildArgs = null);

/// <summary>User name and password (or token) for an image registry. Never logged.</summary>
public sealed record RegistryCredentials(string Username, string Password)
{
    /// <inheritdoc />
    public override string ToString() => $"RegistryCredentials {{ Username = {Username}, Password = *** }}";
}

/// <summary>A published port: the host address and port mapped to a container port (tcp).</summary>
public sealed record PortBinding(string HostIp, int HostPort, int ContainerPort);

/// <summary>What to create a container from.</summary>
public sealed record ContainerSpec
{
    /// <summary>The container name (unique on the engine).</summary>
    public required string Name { get; init; }
    /// <summary>The image reference.</summary>
    public required string Image { get; init; }
    /// <summary>Command (overrides the image's CMD) or null for the image default.</summary>
    public IReadOnlyList<string>? Command { get; init; }
    /// <summary>Entrypoint override, or null for the image default.</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }
    /// <summary>Environment variables.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    /// <summary>Labels; the pipeline always sets service, colour, version and deploy id.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The network to attach to, or null for the engine default.</summary>
    public string? Network { get; init; }
    /// <summary>Ports published on the host.</summary>
    public IReadOnlyList<PortBinding> Ports { get; init; } = [];
    /// <summary>Named volumes mounted: volume name → path in the container.</summary>
    public IReadOnlyDictionary<string, string> Volumes { get; init; } = new Dictionary<string, string>();
    /// <summary>Extra <c>/etc/hosts</c> entries: host name → IP address (like <c>docker run --add-host</c>).</summary>
    public IReadOnlyDictionary<string, string> ExtraHosts { get; init; } = new Dictionary<string, string>();
    /// <summary>Restart policy name (<c>no</c>, <c>unless-stopped</c>, …).</summary>
    public string RestartPolicy { get; init; } = "no";
}

/// <summary>What Pipeline needs to know about a container.</summary>
public sealed record ContainerInfo(
    string Id,
    string Name,
    string Image,
    string ImageId,
    string State,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> NetworkAddresses)
{
    /// <summary>True while the container runs.</summary>
    public bool IsRunning => State == "running";

    /// <summary>Its environment variables (filled by <see cref="IDockerEngine.InspectContainerAsync"/> only; empty from a list).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Its named volumes: volume name → path in the container (filled by <see cref="IDockerEngine.InspectContainerAsync"/> only).</summary>
    public IReadOnlyDictionary<string, string> Volumes { get; init; } = new Dictionary<string, string>();

    /// <summary>Its restart policy name (<c>no</c>, <c>unless-stopped</c>, …; filled by <see cref="IDockerEngine.InspectContainerAsync"/> only).</summary>
    public string RestartPolicy { get; init; } = "no";
}

/// <summary>The result of a command run inside a container.</summary>
public sealed record ExecResult(long ExitCode, string Stdout, string Stderr);

/// <summary>A network found on an engine.</summary>
public sealed record NetworkInfo(string Id, string Name, IReadOnlyDictionary<string, string> Labels);

/// <summary>A volume found on an engine.</summary>
public sealed record VolumeInfo(string Name, IReadOnlyDictionary<string, string> Labels);

/// <summary>An image found on an engine.</summary>
/// <param name="Id">The image id (sha256:…).</param>
/// <param name="RepoDigests">Its digests in registries (<c>registry/repo@sha256:…</c>).</param>
/// <param name="ExposedPorts">The TCP ports its config exposes (<c>EXPOSE</c>), ascending.</param>
/// <param name="Labels">Its labels.</param>
public sealed record ImageInfo(string Id, IReadOnlyList<string> RepoDigests, IReadOnlyList<int> ExposedPorts, IReadOnlyDictionary<string, string> Labels);
