using System.Formats.Tar;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Docker.DotNet;
using Docker.DotNet.Handler.Abstractions;
using Docker.DotNet.Models;
using Docker.DotNet.NativeHttp;

namespace Pipeline.Docker;

/// <summary>
/// <see cref="IDockerEngine"/> over the Docker Engine API (Docker.DotNet.Enhanced, unversioned paths, so it works
/// with engines from API 1.41 on). Engine errors become <see cref="DockerEngineException"/> with the HTTP status
/// and response body; build errors become <see cref="ImageBuildFailedException"/>.
/// </summary>
/// <remarks>
/// The build context honours <c>.dockerignore</c> in its common form: one pattern per line, <c>#</c> comments,
/// <c>*</c>, <c>?</c> and <c>**</c> wildcards, <c>!</c> exceptions, last match wins; the Dockerfile and the
/// <c>.dockerignore</c> itself are always sent.
/// </remarks>
public sealed partial class DockerEngine : IDockerEngine
{
    private const int TailLines = 20;
    private readonly DockerClient _client;
    private readonly SemaphoreSlim _networkLock = new(1, 1);
    private readonly DockerTls? _tls;

    /// <summary>Creates a client for the engine at <paramref name="endpoint"/>; nothing is contacted yet.</summary>
    /// <exception cref="ArgumentException">The endpoint cannot be used (e.g. TLS certificates cannot be loaded).</exception>
    public DockerEngine(DockerEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Endpoint = endpoint;
        _tls = endpoint.TlsVerify ? DockerTls.Load(endpoint.CertPath ?? DockerEndpoint.DefaultCertPath, endpoint.Host.Host) : null;
        _client = CreateClient(endpoint, _tls);
    }

    /// <inheritdoc />
    public DockerEndpoint Endpoint { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        _client.Dispose();
        _networkLock.Dispose();
    }

    // ------------------------------------------------------------------ engine

    /// <summary>Checks the engine answers; returns its version, e.g. <c>20.10.24 (API 1.41)</c>.</summary>
    public Task<string> PingAsync(CancellationToken ct = default) =>
        CallAsync("checking the engine", async () =>
        {
            var version = await _client.System.GetVersionAsync(ct).ConfigureAwait(false);
            return $"{version.Version} (API {version.APIVersion})";
        });

    // ------------------------------------------------------------------ images

    /// <inheritdoc />
    public async Task<string> BuildImageAsync(ImageBuildRequest request, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var context = Path.GetFullPath(request.ContextDirectory);
        if (!Directory.Exists(context))
        {
            throw new DirectoryNotFoundException($"The build context folder '{context}' does not exist.");
        }

        if (!File.Exists(Path.Combine(context, request.Dockerfile)))
        {
            throw new FileNotFoundException($"The Dockerfile '{request.Dockerfile}' does not exist in the build context '{context}'.", Path.Combine(context, request.Dockerfile));
        }

        await using var tar = new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
        await BuildContext.WriteAsync(context, request.Dockerfile, tar, ct).ConfigureAwait(false);
        tar.Position = 0;

        var parameters = new ImageBuildParameters
        {
            Dockerfile = request.Dockerfile.Replace('\\', '/'),
            Tags = request.Tags.Select(t => t.ToString()).ToList(),
            Labels = request.Labels?.ToDictionary(),
            BuildArgs = request.BuildArgs?.ToDictionary(),
            Remove = true,
            ForceRemove = true,
        };

        var messages = new MessageCollector(progress, FormatBuildMessage);
        try
        {
            await CallAsync($"building {request.Dockerfile} in {context}", async () =>
            {
                await _client.Images.BuildImageFromDockerfileAsync(parameters, tar, null, null, messages, ct).ConfigureAwait(false);
                return true;
            }).ConfigureAwait(false);
        }
        catch (DockerEngineException e) when (e.StatusCode is 400 or 500)
        {
            // The engine refused the Dockerfile or the context before building (e.g. an unknown instruction).
            throw new ImageBuildFailedException(request, Endpoint, EngineMessage(e.ResponseBody), messages.Tail, e);
        }

        if (messages.Error is not null)
        {
            throw new ImageBuildFailedException(request, Endpoint, messages.Error, messages.Tail);
        }

        if (messages.AuxString("ID") is { Length: > 0 } id)
        {
            return id;
        }

        // Older engines only say "Successfully built <short id>"; ask for the full id.
        var reference = request.Tags.Count > 0 ? request.Tags[0].ToString() : messages.Tail.Select(SuccessfullyBuilt).LastOrDefault(s => s is not null);
        if (reference is null)
        {
            throw new ImageBuildFailedException(request, Endpoint, "the engine did not say which image it built", messages.Tail);
        }

        var image = await CallAsync($"inspecting image {reference}", () => _client.Images.InspectImageAsync(reference, ct)).ConfigureAwait(false);
        return image.ID;
    }

    /// <inheritdoc />
    public Task TagImageAsync(string source, ImageRef target, CancellationToken ct = default) =>
        CallAsync($"tagging image {source} as {target}", async () =>
        {
            await _client.Images.TagImageAsync(source, new ImageTagParameters { RepositoryName = target.Name, Tag = target.Tag }, ct).ConfigureAwait(false);
            return true;
        });

    /// <inheritdoc />
    public async Task<string> PushImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var registry = image.Registry ?? "docker.io";
        var messages = new MessageCollector(progress, FormatStatusMessage);
        await CallAsync($"pushing image {image} to {registry}", async () =>
        {
            await _client.Images.PushImageAsync(image.Name, new ImagePushParameters { Tag = image.Tag }, ToAuthConfig(image, credentials), messages, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        if (messages.Error is not null)
        {
            throw new DockerEngineException(
                $"Pushing image {image} to {registry} on {Endpoint} failed: {messages.Error}" + TailSuffix(messages.Tail), null, messages.Error);
        }

        var digest = messages.AuxString("Digest") ?? messages.Tail.Select(DigestInStatus).LastOrDefault(d => d is not null);
        return digest ?? throw new DockerEngineException(
            $"Pushing image {image} to {registry} on {Endpoint} finished without reporting a digest." + TailSuffix(messages.Tail));
    }

    /// <inheritdoc />
    public async Task PullImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var registry = image.Registry ?? "docker.io";
        var messages = new MessageCollector(progress, FormatStatusMessage);
        await CallAsync($"pulling image {image} from {registry}", async () =>
        {
            await _client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = image.Name, Tag = image.Tag }, ToAuthConfig(image, credentials), messages, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        if (messages.Error is not null)
        {
            throw new DockerEngineException(
                $"Pulling image {image} from {registry} on {Endpoint} failed: {messages.Error}" + TailSuffix(messages.Tail), null, messages.Error);
        }
    }

    /// <inheritdoc />
    public Task<bool> ImageExistsAsync(string reference, CancellationToken ct = default) =>
        CallAsync($"inspecting image {reference}", async () =>
        {
            try
            {
                await _client.Images.InspectImageAsync(reference, ct).ConfigureAwait(false);
                return true;
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }
        });

    /// <inheritdoc />
    public async Task ImportImageAsync(Stream rootfsTar, ImageRef target, IReadOnlyList<string>? changes = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(rootfsTar);
        var messages = new MessageCollector(null, FormatStatusMessage);
        var parameters = new ImagesCreateParameters { Repo = target.Name, Tag = target.Tag, Changes = changes?.ToList() };
        await CallAsync($"importing image {target}", async () =>
        {
            await _client.Images.CreateImageAsync(parameters, rootfsTar, null, messages, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        if (messages.Error is not null)
        {
            throw new DockerEngineException($"Importing image {target} on {Endpoint} failed: {messages.Error}", null, messages.Error);
        }
    }

    // ------------------------------------------------------------------ containers

    /// <inheritdoc />
    public Task<string> CreateContainerAsync(ContainerSpec spec, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var exposed = spec.Ports.ToDictionary(p => $"{p.ContainerPort}/tcp", _ => default(EmptyStruct));
        var bindings = spec.Ports
            .GroupBy(p => $"{p.ContainerPort}/tcp")
            .ToDictionary(
                g => g.Key,
                g => (IList<global::Docker.DotNet.Models.PortBinding>)g.Select(p => new global::Docker.DotNet.Models.PortBinding { HostIP = p.HostIp, HostPort = p.HostPort.ToString(System.Globalization.CultureInfo.InvariantCulture) }).ToList());

        var parameters = new CreateContainerParameters
        {
            Name = spec.Name,
            Image = spec.Image,
            Cmd = spec.Command?.ToList()!,
            Entrypoint = spec.Entrypoint?.ToList()!,
            Env = spec.Environment.Select(kv => $"{kv.Key}={kv.Value}").ToList(),
            Labels = spec.Labels.ToDictionary(),
            ExposedPorts = exposed.Count == 0 ? null! : exposed,
            HostConfig = new HostConfig
            {
                NetworkMode = spec.Network!,
                PortBindings = bindings.Count == 0 ? null! : bindings,
                Binds = spec.Volumes.Count == 0 ? null! : spec.Volumes.Select(kv => $"{kv.Key}:{kv.Value}").ToList(),
                RestartPolicy = new RestartPolicy { Name = ParseRestartPolicy(spec.RestartPolicy) },
            },
        };

        return CallAsync($"creating container {spec.Name} from image {spec.Image}", async () =>
        {
            var created = await _client.Containers.CreateContainerAsync(parameters, ct).ConfigureAwait(false);
            return created.ID;
        });
    }

    /// <inheritdoc />
    public Task StartContainerAsync(string id, CancellationToken ct = default) =>
        CallAsync($"starting container {id}", async () =>
        {
            await _client.Containers.StartContainerAsync(id, new ContainerStartParameters(), ct).ConfigureAwait(false);
            return true;
        });

    /// <inheritdoc />
    public Task StopContainerAsync(string id, TimeSpan timeout, CancellationToken ct = default) =>
        CallAsync($"stopping container {id}", async () =>
        {
            try
            {
                // Docker.DotNet returns false for 304 Not Modified (already stopped).
                await _client.Containers.StopContainerAsync(id, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Max(0, Math.Ceiling(timeout.TotalSeconds)) }, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.NotModified)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task RemoveContainerAsync(string id, CancellationToken ct = default) =>
        CallAsync($"removing container {id}", async () =>
        {
            try
            {
                await _client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.Conflict && e.ResponseBody?.Contains("already in progress", StringComparison.OrdinalIgnoreCase) == true)
            {
                // Another caller is removing it (e.g. AutoRemove): the outcome is the same.
            }

            return true;
        });

    /// <inheritdoc />
    public Task<ContainerInfo?> InspectContainerAsync(string idOrName, CancellationToken ct = default) =>
        CallAsync($"inspecting container {idOrName}", async () =>
        {
            try
            {
                var c = await _client.Containers.InspectContainerAsync(idOrName, ct).ConfigureAwait(false);
                return (ContainerInfo?)new ContainerInfo(
                    c.ID,
                    c.Name.TrimStart('/'),
                    c.Config?.Image ?? "",
                    c.Image ?? "",
                    c.State?.Status ?? "",
                    ToReadOnly(c.Config?.Labels),
                    Addresses(c.NetworkSettings?.Networks));
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"listing containers labelled {DescribeLabels(labels)}", async () =>
        {
            var list = await _client.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = LabelFilters(labels) }, ct).ConfigureAwait(false);
            return (IReadOnlyList<ContainerInfo>)list.Select(c => new ContainerInfo(
                c.ID,
                c.Names?.FirstOrDefault()?.TrimStart('/') ?? "",
                c.Image ?? "",
                c.ImageID ?? "",
                c.State ?? "",
                ToReadOnly(c.Labels),
                Addresses(c.NetworkSettings?.Networks))).ToList();
        });

    /// <inheritdoc />
    public Task<long> WaitContainerAsync(string id, CancellationToken ct = default) =>
        CallAsync($"waiting for container {id}", async () =>
        {
            var result = await _client.Containers.WaitContainerAsync(id, ct).ConfigureAwait(false);
            return result.StatusCode;
        });

    /// <inheritdoc />
    /// <remarks>
    /// When the container exits, dockerd (20.10) may end a followed stream before it has written a last line that
    /// had no newline; the logs are then read once more and the lines not yet seen are passed on.
    /// </remarks>
    public async Task StreamLogsAsync(string id, Action<string> onLine, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(onLine);
        var what = $"reading the logs of container {id}";
        var stdout = new LineSplitter(onLine);
        var stderr = new LineSplitter(onLine);
        await CallAsync(what, () => ReadLogsAsync(id, follow: true, stdout, stderr, ct)).ConfigureAwait(false);

        var allStdout = new List<string>();
        var allStderr = new List<string>();
        var again = new LineSplitter(allStdout.Add);
        var againErr = new LineSplitter(allStderr.Add);
        var reread = await CallAsync(what, async () =>
        {
            try
            {
                await ReadLogsAsync(id, follow: false, again, againErr, ct).ConfigureAwait(false);
                again.Flush();
                againErr.Flush();
                return true;
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return false; // removed meanwhile
            }
        }).ConfigureAwait(false);

        CatchUp(stdout, allStdout);
        CatchUp(stderr, allStderr);

        void CatchUp(LineSplitter followed, List<string> all)
        {
            if (reread && all.Count > followed.Emitted)
            {
                foreach (var line in all.Skip(followed.Emitted))
                {
                    onLine(line);
                }
            }
            else
            {
                followed.Flush();
            }
        }
    }

    private async Task<bool> ReadLogsAsync(string id, bool follow, LineSplitter stdout, LineSplitter stderr, CancellationToken ct)
    {
        using var stream = await _client.Containers.GetContainerLogsAsync(
            id, new ContainerLogsParameters { Follow = follow, ShowStdout = true, ShowStderr = true }, ct).ConfigureAwait(false);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, ct).ConfigureAwait(false);
            if (read.EOF)
            {
                return true;
            }

            (read.Target == MultiplexedStream.TargetStream.StandardError ? stderr : stdout).Append(buffer.AsSpan(0, read.Count));
        }
    }

    /// <inheritdoc />
    public async Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var what = $"running '{string.Join(' ', command)}' in container {id}";
        return await CallAsync(what, async () =>
        {
            var exec = await _client.Exec.CreateContainerExecAsync(
                id, new ContainerExecCreateParameters { Cmd = command.ToList(), AttachStdout = true, AttachStderr = true }, ct).ConfigureAwait(false);
            string stdout, stderr;
            using (var stream = await _client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters(), ct).ConfigureAwait(false))
            {
                (stdout, stderr) = await stream.ReadOutputToEndAsync(ct).ConfigureAwait(false);
            }

            var inspect = await _client.Exec.InspectContainerExecAsync(exec.ID, ct).ConfigureAwait(false);
            return new ExecResult(inspect.ExitCode ?? -1, stdout, stderr);
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IExecSession> StartSessionAsync(string id, IReadOnlyList<string> command, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var what = $"starting '{string.Join(' ', command)}' in container {id}";
        return await CallAsync(what, async () =>
        {
            var exec = await _client.Exec.CreateContainerExecAsync(
                id, new ContainerExecCreateParameters { Cmd = command.ToList(), AttachStdin = true, AttachStdout = true, AttachStderr = true }, ct).ConfigureAwait(false);
            var stream = await _client.Exec.StartContainerExecAsync(exec.ID, new ContainerExecStartParameters(), ct).ConfigureAwait(false);
            return (IExecSession)new DockerExecSession(stream, $"'{string.Join(' ', command)}' in container {id} on {Endpoint}");
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task PutFilesAsync(string id, string directory, IReadOnlyDictionary<string, byte[]> files, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (!directory.StartsWith('/'))
        {
            throw new ArgumentException($"'{directory}' is not an absolute folder inside the container.", nameof(directory));
        }

        if (files.Keys.FirstOrDefault(name => name.Length == 0 || name.Contains('/')) is { } bad)
        {
            throw new ArgumentException($"'{bad}' is not a file name (no folders).", nameof(files));
        }

        await CallAsync($"writing {string.Join(", ", files.Keys)} into {directory} of container {id}", async () =>
        {
            using var tar = new MemoryStream();
            await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                foreach (var (name, content) in files)
                {
                    var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
                    {
                        DataStream = new MemoryStream(content, writable: false),
                        Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                        ModificationTime = DateTimeOffset.UtcNow,
                    };
                    await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
                }
            }

            tar.Position = 0;
            await _client.Containers.ExtractArchiveToContainerAsync(id, new CopyToContainerParameters { Path = directory }, tar, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task PutFileAsync(string id, string path, byte[] content, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (!path.StartsWith('/') || path.EndsWith('/'))
        {
            throw new ArgumentException($"'{path}' is not an absolute file path inside the container.", nameof(path));
        }

        var directory = path[..path.LastIndexOf('/')];
        var name = path[(path.LastIndexOf('/') + 1)..];
        await CallAsync($"writing {path} into container {id}", async () =>
        {
            try
            {
                await UploadAsync(directory.Length == 0 ? "/" : directory, name).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound && directory.Length > 0
                && e.ResponseBody?.Contains("No such container", StringComparison.OrdinalIgnoreCase) != true)
            {
                // The folder does not exist yet: extract at the root so the engine creates the missing folders.
                await UploadAsync("/", path.TrimStart('/')).ConfigureAwait(false);
            }

            return true;
        }).ConfigureAwait(false);

        async Task UploadAsync(string extractAt, string entryName)
        {
            using var tar = new MemoryStream();
            await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, entryName)
                {
                    DataStream = new MemoryStream(content, writable: false),
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = DateTimeOffset.UtcNow,
                };
                await writer.WriteEntryAsync(entry, ct).ConfigureAwait(false);
            }

            tar.Position = 0;
            await _client.Containers.ExtractArchiveToContainerAsync(id, new CopyToContainerParameters { Path = extractAt }, tar, ct).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public Task<byte[]?> GetFileAsync(string id, string path, CancellationToken ct = default) =>
        CallAsync($"reading {path} from container {id}", async () =>
        {
            ContainerArchiveResponse archive;
            try
            {
                archive = await _client.Containers.GetArchiveFromContainerAsync(id, new ContainerPathStatParameters { Path = path }, false, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound && e.ResponseBody?.Contains("No such container", StringComparison.OrdinalIgnoreCase) != true)
            {
                return null;
            }

            await using var stream = archive.Stream ?? Stream.Null;
            await using var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync(copyData: false, ct).ConfigureAwait(false) is { } entry)
            {
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                {
                    using var data = new MemoryStream();
                    if (entry.DataStream is not null)
                    {
                        await entry.DataStream.CopyToAsync(data, ct).ConfigureAwait(false);
                    }

                    return data.ToArray();
                }

                throw new DockerEngineException($"Reading {path} from container {id} on {Endpoint} failed: it is a {entry.EntryType}, not a regular file.");
            }

            return null;
        });

    // ------------------------------------------------------------------ networks

    /// <inheritdoc />
    public async Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        // The engine allows two networks with one name; serialise our check-then-create.
        await _networkLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await CallAsync($"creating network {name}", async () =>
            {
                if (await FindNetworkAsync(name, ct).ConfigureAwait(false) is { } existing)
                {
                    return existing.ID;
                }

                var created = await _client.Networks.CreateNetworkAsync(
                    new NetworksCreateParameters { Name = name, Driver = "bridge", Labels = labels.ToDictionary() }, ct).ConfigureAwait(false);
                return created.ID;
            }).ConfigureAwait(false);
        }
        finally
        {
            _networkLock.Release();
        }
    }

    /// <inheritdoc />
    public Task RemoveNetworkAsync(string name, CancellationToken ct = default) =>
        CallAsync($"removing network {name}", async () =>
        {
            try
            {
                await _client.Networks.DeleteNetworkAsync(name, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<NetworkInfo>> ListNetworksAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"listing networks labelled {DescribeLabels(labels)}", async () =>
        {
            var list = await _client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = LabelFilters(labels) }, ct).ConfigureAwait(false);
            return (IReadOnlyList<NetworkInfo>)list.Select(n => new NetworkInfo(n.ID, n.Name, ToReadOnly(n.Labels))).ToList();
        });

    private async Task<NetworkResponse?> FindNetworkAsync(string name, CancellationToken ct)
    {
        // The name filter matches substrings; keep the exact match.
        var filters = new Dictionary<string, IDictionary<string, bool>> { ["name"] = new Dictionary<string, bool> { [name] = true } };
        var list = await _client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filters }, ct).ConfigureAwait(false);
        return list.FirstOrDefault(n => n.Name == name);
    }

    // ------------------------------------------------------------------ volumes

    /// <inheritdoc />
    public Task CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"creating volume {name}", async () =>
        {
            await _client.Volumes.CreateAsync(new VolumesCreateParameters { Name = name, Labels = labels.ToDictionary() }, ct).ConfigureAwait(false);
            return true;
        });

    /// <inheritdoc />
    public Task RemoveVolumeAsync(string name, CancellationToken ct = default) =>
        CallAsync($"removing volume {name}", async () =>
        {
            try
            {
                await _client.Volumes.RemoveAsync(name, false, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"listing volumes labelled {DescribeLabels(labels)}", async () =>
        {
            var list = await _client.Volumes.ListAsync(new VolumesListParameters { Filters = LabelFilters(labels) }, ct).ConfigureAwait(false);
            return (IReadOnlyList<VolumeInfo>)(list.Volumes ?? []).Select(v => new VolumeInfo(v.Name, ToReadOnly(v.Labels))).ToList();
        });

    // ------------------------------------------------------------------ plumbing

    private async Task<T> CallAsync<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            var status = (int)e.StatusCode;
            throw new DockerEngineException(
                $"{Capitalise(what)} on {Endpoint} failed: the engine answered {status} {e.StatusCode}: {EngineMessage(e.ResponseBody)}",
                status, e.ResponseBody, e);
        }
        catch (Exception e) when (IsUnreachable(e) && _tls?.LastRejection is { } rejection && HasInChain<System.Security.Authentication.AuthenticationException>(e))
        {
            throw new DockerEngineException($"The TLS handshake with the Docker engine at {Endpoint} failed while {what}: {rejection.Reason}. {rejection.Fix}", null, null, e);
        }
        catch (Exception e) when (IsUnreachable(e) && _tls is not null && IsRefusedClientCertificate(e, _tls))
        {
            throw new DockerEngineException(
                $"The Docker engine at {Endpoint} ended the connection right after the TLS handshake while {what} ({Innermost(e).Message.TrimEnd('.')}): it refuses our client certificate. Check that {Path.Combine(Endpoint.CertPath ?? "DOCKER_CERT_PATH", "cert.pem")} is a client certificate signed by a CA the engine trusts (dockerd --tlscacert).",
                null, null, e);
        }
        catch (Exception e) when (IsUnreachable(e) && HasInChain<System.Security.Authentication.AuthenticationException>(e))
        {
            throw new DockerEngineException(
                $"The TLS handshake with the Docker engine at {Endpoint} failed while {what}: {Innermost(e).Message} Check that {Endpoint.CertPath ?? "DOCKER_CERT_PATH"} holds the CA that signed the engine's certificate (ca.pem) and a client certificate the engine trusts (cert.pem, key.pem).",
                null, null, e);
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            throw new DockerEngineException(
                $"Could not reach the Docker engine at {Endpoint} while {what}: {Innermost(e).Message} Start dockerd or set DOCKER_HOST.",
                null, null, e);
        }
    }

    private static bool IsUnreachable(Exception e) => e switch
    {
        OperationCanceledException => false,
        HttpRequestException or SocketException or TimeoutException or IOException or DockerConfigurationException => true,
        _ => e.InnerException is not null && IsUnreachable(e.InnerException),
    };

    /// <summary>
    /// The engine refused our client certificate: a TLS alert about it, or (TLS 1.3, where the server checks the
    /// client certificate after our side finished the handshake) a reset or end of stream once we accepted the engine.
    /// </summary>
    private static bool IsRefusedClientCertificate(Exception e, DockerTls tls)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner.Message.Contains("certificate required", StringComparison.OrdinalIgnoreCase)
                || inner.Message.Contains("bad certificate", StringComparison.OrdinalIgnoreCase)
                || inner.Message.Contains("unknown ca", StringComparison.OrdinalIgnoreCase)
                || (tls.AcceptedAServer && tls.LastRejection is null
                    && (inner is SocketException { SocketErrorCode: SocketError.ConnectionReset }
                        || inner.Message.Contains("unexpected EOF", StringComparison.OrdinalIgnoreCase))))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasInChain<TException>(Exception? e)
        where TException : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is TException)
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    private static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>The engine's error text from a JSON body like <c>{"message":"No such container: x"}</c>.</summary>
    private static string EngineMessage(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return "(no response body)";
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("message", out var message))
            {
                return message.GetString() ?? body.Trim();
            }
        }
        catch (JsonException)
        {
        }

        return body.Trim();
    }

    private static string TailSuffix(IReadOnlyList<string> tail) => tail.Count == 0 ? "" : Environment.NewLine + Indent.Lines(tail);

    private static string DescribeLabels(IReadOnlyDictionary<string, string> labels) =>
        labels.Count == 0 ? "(any)" : string.Join(", ", labels.Select(kv => $"{kv.Key}={kv.Value}"));

    private static Dictionary<string, IDictionary<string, bool>>? LabelFilters(IReadOnlyDictionary<string, string> labels) =>
        labels.Count == 0
            ? null
            : new Dictionary<string, IDictionary<string, bool>> { ["label"] = labels.ToDictionary(kv => $"{kv.Key}={kv.Value}", _ => true) };

    private static IReadOnlyDictionary<string, string> ToReadOnly(IDictionary<string, string>? map) =>
        map is null ? new Dictionary<string, string>() : new Dictionary<string, string>(map);

    private static IReadOnlyDictionary<string, string> Addresses(IDictionary<string, EndpointSettings>? networks) =>
        networks is null
            ? new Dictionary<string, string>()
            : networks.Where(n => !string.IsNullOrEmpty(n.Value?.IPAddress)).ToDictionary(n => n.Key, n => n.Value.IPAddress);

    private static RestartPolicyKind ParseRestartPolicy(string name) => name switch
    {
        "" or "no" => RestartPolicyKind.No,
        "always" => RestartPolicyKind.Always,
        "on-failure" => RestartPolicyKind.OnFailure,
        "unless-stopped" => RestartPolicyKind.UnlessStopped,
        _ => throw new ArgumentException($"Restart policy '{name}' is not one of no, always, on-failure, unless-stopped.", nameof(name)),
    };

    private static AuthConfig? ToAuthConfig(ImageRef image, RegistryCredentials? credentials) =>
        credentials is null
            ? null
            : new AuthConfig { Username = credentials.Username, Password = credentials.Password, ServerAddress = image.Registry ?? "https://index.docker.io/v1/" };

    private static IEnumerable<string> FormatBuildMessage(JSONMessage m)
    {
        if (!string.IsNullOrEmpty(m.Stream))
        {
            foreach (var line in m.Stream.Split('\n'))
            {
                if (line.Trim().Length > 0)
                {
                    yield return line.TrimEnd('\r');
                }
            }
        }
        else
        {
            foreach (var line in FormatStatusMessage(m))
            {
                yield return line;
            }
        }
    }

    private static IEnumerable<string> FormatStatusMessage(JSONMessage m)
    {
        // Byte-count updates ("Pushing [===>  ]") carry progress details; report only status changes.
        if (string.IsNullOrEmpty(m.Status) || m.Progress is { Current: not null } || m.Progress is { Total: not null })
        {
            yield break;
        }

        yield return string.IsNullOrEmpty(m.ID) ? m.Status : $"{m.ID}: {m.Status}";
    }

    private static string? SuccessfullyBuilt(string line) =>
        line.StartsWith("Successfully built ", StringComparison.Ordinal) ? line["Successfully built ".Length..].Trim() : null;

    private static string? DigestInStatus(string line) => DigestPattern().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"digest: (sha256:[0-9a-f]{64})")]
    private static partial Regex DigestPattern();

    private static DockerClient CreateClient(DockerEndpoint endpoint, DockerTls? tls)
    {
        var builder = new DockerClientBuilder().WithEndpoint(endpoint.Host);
        if (tls is null)
        {
            return builder.Build();
        }

        return builder
            .WithAuthProvider(new TlsAuthProvider())
            .WithTransportOptions(new NativeHttpTransportOptions
            {
                ConfigureHandler = handler =>
                {
                    handler.SslOptions.ClientCertificates = new X509CertificateCollection { tls.Client };
                    handler.SslOptions.RemoteCertificateValidationCallback = tls.ValidateServer;
                },
            })
            .Build();
    }

    /// <summary>Tells the transport to speak https; the certificates are set on the handler itself.</summary>
    private sealed class TlsAuthProvider : IAuthProvider
    {
        public bool TlsEnabled => true;

        public HttpMessageHandler ConfigureHandler(HttpMessageHandler handler) => handler;
    }

    /// <summary>Collects a JSON message stream synchronously (Progress&lt;T&gt; would post to the thread pool and reorder).</summary>
    private sealed class MessageCollector(IProgress<string>? progress, Func<JSONMessage, IEnumerable<string>> format) : IProgress<JSONMessage>
    {
        private readonly Queue<string> _tail = new();
        private readonly Dictionary<string, string> _aux = new(StringComparer.OrdinalIgnoreCase);

        public string? Error { get; private set; }

        public IReadOnlyList<string> Tail => _tail.ToList();

        public string? AuxString(string key) => _aux.GetValueOrDefault(key);

        public void Report(JSONMessage value)
        {
            foreach (var line in format(value))
            {
                Remember(line);
                progress?.Report(line);
            }

            if (value.Error is { Message: { Length: > 0 } error })
            {
                Error ??= error.Trim();
                Remember(error.Trim());
            }

            if (value.Aux?.ExtensionData is { } aux)
            {
                foreach (var (key, raw) in aux)
                {
                    var text = raw switch
                    {
                        JsonElement { ValueKind: JsonValueKind.String } s => s.GetString(),
                        JsonElement other => other.ToString(),
                        string s => s,
                        _ => raw?.ToString(),
                    };
                    if (text is not null)
                    {
                        _aux[key] = text;
                    }
                }
            }
        }

        private void Remember(string line)
        {
            _tail.Enqueue(line);
            while (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }
    }

    /// <summary>Turns chunks of bytes into lines (UTF-8, \n or \r\n), keeping a partial last line until more arrives.</summary>
    private sealed class LineSplitter(Action<string> onLine)
    {
        private readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
        private readonly StringBuilder _line = new();

        /// <summary>How many lines have been passed on.</summary>
        public int Emitted { get; private set; }

        public void Append(ReadOnlySpan<byte> bytes)
        {
            var chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
            var count = _decoder.GetChars(bytes, chars, flush: false);
            foreach (var c in chars.AsSpan(0, count))
            {
                if (c == '\n')
                {
                    Emit();
                }
                else
                {
                    _line.Append(c);
                }
            }
        }

        public void Flush()
        {
            if (_line.Length > 0)
            {
                Emit();
            }
        }

        private void Emit()
        {
            if (_line.Length > 0 && _line[^1] == '\r')
            {
                _line.Length--;
            }

            onLine(_line.ToString());
            _line.Clear();
            Emitted++;
        }
    }
}
