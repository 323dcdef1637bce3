using System.Formats.Tar;
using System.Net;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Pipeline.Docker;

// Containers: create, start, stop, remove, inspect, list, wait, logs, exec, files.
public sealed partial class DockerEngine
{
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
                ExtraHosts = spec.ExtraHosts.Count == 0 ? null! : spec.ExtraHosts.Select(kv => $"{kv.Key}:{kv.Value}").ToList(),
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
                    Addresses(c.NetworkSettings?.Networks))
                {
                    Environment = (c.Config?.Env ?? []).Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : ""),
                    Volumes = (c.Mounts ?? []).Where(m => m.Type == "volume" && !string.IsNullOrEmpty(m.Name)).ToDictionary(m => m.Name!, m => m.Destination ?? ""),
                    RestartPolicy = c.HostConfig?.RestartPolicy?.Name switch
                    {
                        RestartPolicyKind.Always => "always",
                        RestartPolicyKind.OnFailure => "on-failure",
                        RestartPolicyKind.UnlessStopped => "unless-stopped",
                        _ => "no",
                    },
                };
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
                        ModificationTime = _time.GetUtcNow(),
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
            catch (Exception e) when (directory.Length > 0 && e is HttpRequestException or IOException && !ct.IsCancellationRequested)
            {
                // The engine may answer that 404 before it read the whole upload and close the connection, so the client
                // sees a broken pipe instead: extract at the root once (an engine really gone fails that too).
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
                    ModificationTime = _time.GetUtcNow(),
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

            // Read the whole archive first (the files read this way are small): a tar reader working on the engine's
            // response stream directly stops short on files of a few KiB.
            using var buffered = new MemoryStream();
            await using (var stream = archive.Stream ?? Stream.Null)
            {
                await stream.CopyToAsync(buffered, ct).ConfigureAwait(false);
            }

            buffered.Position = 0;
            await using var reader = new TarReader(buffered);
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
