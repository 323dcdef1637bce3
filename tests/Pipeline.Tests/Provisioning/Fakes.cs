using Pipeline.Docker;
using Pipeline.Provisioning;

namespace Pipeline.Tests.Provisioning;

/// <summary>A machine in a test: which programs exist, what apt-get does, which processes stay alive.</summary>
internal sealed class FakeRunner : ICommandRunner
{
    private int _nextPid = 1000;

    public HashSet<string> Programs { get; } = new(StringComparer.Ordinal);

    public List<string> Ran { get; } = [];

    public List<(string Program, IReadOnlyList<string> Arguments, string LogFile, int Pid)> Started { get; } = [];

    /// <summary>Packages each apt-get install makes available as programs.</summary>
    public Dictionary<string, string> ProgramOfPackage { get; } = new()
    {
        ["docker.io"] = "dockerd",
        ["docker-registry"] = "docker-registry",
        ["etcd-server"] = "etcd",
        ["prometheus"] = "prometheus",
        ["mmdebstrap"] = "mmdebstrap",
        ["busybox-static"] = "busybox",
    };

    public Func<string, IReadOnlyList<string>, CommandResult>? OnRun { get; set; }

    public Action<string>? OnStart { get; set; }

    public HashSet<int> Dead { get; } = [];

    public string? FindExecutable(string name) => Programs.Contains(name) ? "/usr/bin/" + name : null;

    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null, Action<string>? onOutput = null, CancellationToken ct = default)
    {
        var line = string.Join(' ', new[] { program }.Concat(arguments));
        Ran.Add(line);
        var result = OnRun?.Invoke(program, arguments) ?? new CommandResult(line, 0, "");
        foreach (var output in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            onOutput?.Invoke(output);
        }
        if (result.Succeeded && program == "apt-get" && arguments[0] == "install")
        {
            foreach (var package in arguments.Skip(2))
            {
                if (ProgramOfPackage.TryGetValue(package, out var installed))
                {
                    Programs.Add(installed);
                }
            }
        }

        return Task.FromResult(result);
    }

    public Task<int> StartDetachedAsync(string program, IReadOnlyList<string> arguments, string logFile, CancellationToken ct = default)
    {
        var pid = _nextPid++;
        Started.Add((program, arguments, logFile, pid));
        OnStart?.Invoke(program);
        return Task.FromResult(pid);
    }

    public bool IsRunning(int processId) => !Dead.Contains(processId);
}

/// <summary>Services in a test: an address answers once it is in <see cref="Up"/>.</summary>
internal sealed class FakeProbe : IServiceProbe
{
    public HashSet<string> Up { get; } = new(StringComparer.Ordinal);

    public List<string> Probed { get; } = [];

    public Task<ProbeResult> PingDockerAsync(DockerEndpoint endpoint, TimeSpan timeout, CancellationToken ct = default) =>
        Task.FromResult(Answer(endpoint.Host.ToString(), "API 1.41"));

    public Task<ProbeResult> CheckImageRegistryAsync(string hostAndPort, TimeSpan timeout, CancellationToken ct = default) =>
        Task.FromResult(Answer(hostAndPort, "registry/2.0 API"));

    public Task<ProbeResult> CheckEtcdAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default) =>
        Task.FromResult(Answer(etcd.ToString(), "etcd 3.4.23"));

    public Task<ProbeResult> CheckPrometheusAsync(Uri prometheus, TimeSpan timeout, CancellationToken ct = default) =>
        Task.FromResult(Answer(prometheus.ToString(), "Prometheus 2.42.0+ds"));

    private ProbeResult Answer(string address, string answer)
    {
        lock (Probed)
        {
            Probed.Add(address);
        }

        return Up.Contains(address) ? ProbeResult.Up(answer) : ProbeResult.Down("connection refused");
    }
}

/// <summary>An etcd's authentication in a test: off until turned on; records the accounts it was given.</summary>
internal sealed class FakeEtcdSecurity : IEtcdSecurity
{
    public bool AuthenticationOn { get; set; }

    public List<(Uri Etcd, EtcdAccounts Accounts)> Enabled { get; } = [];

    public Task<bool> IsAuthenticationOnAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default) => Task.FromResult(AuthenticationOn);

    public Task EnableAuthenticationAsync(Uri etcd, EtcdAccounts accounts, TimeSpan timeout, CancellationToken ct = default)
    {
        Enabled.Add((etcd, accounts));
        AuthenticationOn = true;
        return Task.CompletedTask;
    }
}

/// <summary>An engine that only knows images; everything else is not part of these tests.</summary>
internal sealed class FakeImageEngine : IDockerEngine
{
    public HashSet<string> Images { get; } = new(StringComparer.Ordinal);

    public List<string> Calls { get; } = [];

    public List<string> BuiltDockerfiles { get; } = [];

    public List<string> BuiltContextFiles { get; } = [];

    public DockerEndpoint Endpoint => DockerEndpoint.Local;

    public Task<bool> ImageExistsAsync(string reference, CancellationToken ct = default) => Task.FromResult(Images.Contains(reference));

    public Task<ImageInfo?> InspectImageAsync(string reference, CancellationToken ct = default) =>
        Task.FromResult(Images.Contains(reference) ? new ImageInfo(reference, [], [], new Dictionary<string, string>()) : null);

    public Task<string> BuildImageAsync(ImageBuildRequest request, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        Calls.Add($"build {string.Join(',', request.Tags)}");
        BuiltDockerfiles.Add(File.ReadAllText(Path.Combine(request.ContextDirectory, request.Dockerfile)));
        BuiltContextFiles.AddRange(Directory.EnumerateFiles(request.ContextDirectory).Select(Path.GetFileName)!);
        foreach (var tag in request.Tags)
        {
            Images.Add(tag.ToString());
        }

        return Task.FromResult("sha256:built");
    }

    public Task ImportImageAsync(Stream rootfsTar, ImageRef target, IReadOnlyList<string>? changes = null, CancellationToken ct = default)
    {
        Calls.Add($"import {target} changes={string.Join(" | ", changes ?? [])}");
        Images.Add(target.ToString());
        return Task.CompletedTask;
    }

    public Task<string> PushImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        Calls.Add($"push {image}");
        return Task.FromResult("sha256:pushed");
    }

    public Task PullImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        Calls.Add($"pull {image}");
        Images.Add(image.ToString());
        return Task.CompletedTask;
    }

    public Task TagImageAsync(string source, ImageRef target, CancellationToken ct = default)
    {
        Calls.Add($"tag {source} {target}");
        Images.Add(target.ToString());
        return Task.CompletedTask;
    }
    public Task<string> PingAsync(CancellationToken ct = default) => throw new NotSupportedException();
    public Task<string> CreateContainerAsync(ContainerSpec spec, CancellationToken ct = default) => throw new NotSupportedException();
    public Task StartContainerAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
    public Task StopContainerAsync(string id, TimeSpan timeout, CancellationToken ct = default) => throw new NotSupportedException();
    public Task RemoveContainerAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<ContainerInfo?> InspectContainerAsync(string idOrName, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<IReadOnlyList<ContainerInfo>> ListContainersAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<long> WaitContainerAsync(string id, CancellationToken ct = default) => throw new NotSupportedException();
    public Task StreamLogsAsync(string id, Action<string> onLine, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, CancellationToken ct = default) => throw new NotSupportedException();
    public Task PutFileAsync(string id, string path, byte[] content, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<byte[]?> GetFileAsync(string id, string path, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw new NotSupportedException();
    public Task RemoveNetworkAsync(string name, CancellationToken ct = default) => throw new NotSupportedException();

    public Task RemoveNetworkClaimAsync(string name, string deployId, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<IReadOnlyList<NetworkInfo>> ListNetworksAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw new NotSupportedException();
    public Task CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw new NotSupportedException();
    public Task RemoveVolumeAsync(string name, CancellationToken ct = default) => throw new NotSupportedException();
    public Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) => throw new NotSupportedException();
    public void Dispose()
    {
    }
}
