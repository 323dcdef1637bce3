using System.Globalization;
using Pipeline.Docker;
using Pipeline.Testing;
using Pipeline.Timing;

namespace Pipeline.Runtime;

/// <summary>
/// Releases as containers on one engine: replica 1 is the container <c>{service}-{color}-{deployid6}</c>, replica N
/// <c>…-N</c>, each on the bridge network <see cref="Network"/> with restart policy <c>unless-stopped</c>; volumes
/// <c>{release name}-{name}</c> shared by the replicas. Health is asked from a probe container on the same network: the
/// network's long-lived probe (<c>{network}-probe-…</c>, labelled with its role, the network and the deploy that started
/// it, which a deploy starts beside its release when none runs), or, when there is none, one started for that check.
/// </summary>
/// <param name="engine">The production engine.</param>
/// <param name="network">The bridge network of releases, probes, the proxy and pre-integration tests.</param>
/// <param name="probeImage">A busybox image (with <c>timeout</c> and <c>wget</c>) the production engine has or can pull.</param>
/// <param name="builtHere">True when the production engine is the CD engine: test images are already there, no pull needed.</param>
/// <param name="time">The clock of waits and timeouts.</param>
public sealed class ContainerRuntime(IDockerEngine engine, string network, string probeImage, bool builtHere, TimeProvider? time = null) : IReleaseRuntime
{
    /// <summary>The pause between health requests.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public OrchestratorKind Kind => OrchestratorKind.Containers;

    /// <inheritdoc />
    public IDockerEngine Engine { get; } = engine ?? throw new ArgumentNullException(nameof(engine));

    /// <inheritdoc />
    public string Network { get; } = network;

    /// <summary>The probe image.</summary>
    public string ProbeImage { get; } = probeImage;

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> CheckAsync(RuntimeRequirements requirements, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(requirements);
        IReadOnlyList<string> problems = requirements.Constraints.Count > 0
            ? [$"--placement-constraint={requirements.Constraints[0]}: placement constraints need a swarm, but releases run as containers on {Engine.Endpoint}; drop it or deploy onto a swarm manager (--orchestrator=swarm)"]
            : [];
        return Task.FromResult(problems);
    }

    /// <inheritdoc />
    public async Task<bool> NetworkExistsAsync(CancellationToken ct = default) =>
        (await Engine.ListNetworksAsync(new Dictionary<string, string>(), ct).ConfigureAwait(false)).Any(n => n.Name == Network);

    /// <inheritdoc />
    public Task EnsureNetworkAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        Engine.EnsureNetworkAsync(Network, labels, ct);

    /// <inheritdoc />
    public async Task<string?> ProbeToStartAsync(CancellationToken ct = default) =>
        await RunningProbeAsync(ct).ConfigureAwait(false) is null ? $"{Network}-probe-{Guid.NewGuid().ToString("N")[..6]}" : null;

    /// <inheritdoc />
    public async Task<string> StartAsync(ReleaseSpec spec, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(spec.Replicas, 1);

        // The network's probe starts beside the release: by the time the release listens, it can be asked.
        var probe = spec.Probe is { } probeName ? StartNetworkProbeAsync(probeName, spec, ct) : Task.CompletedTask;
        try
        {
            await StartReplicasAsync(spec, progress, ct).ConfigureAwait(false);
        }
        finally
        {
            await probe.ConfigureAwait(false);
        }

        return spec.Id.Name;
    }

    private async Task StartReplicasAsync(ReleaseSpec spec, IProgress<string>? progress, CancellationToken ct)
    {
        if (!spec.ImageIsLocal)
        {
            await Engine.PullImageAsync(ImageRef.Parse(spec.Image), spec.Credentials, progress, ct).ConfigureAwait(false);
        }

        var volumes = new Dictionary<string, string>();
        foreach (var volume in spec.Volumes)
        {
            var name = $"{spec.Id.Name}-{volume.Name}";
            await Engine.CreateVolumeAsync(name, spec.Labels, ct).ConfigureAwait(false);
            volumes[name] = volume.Path;
        }

        for (var replica = 1; replica <= spec.Replicas; replica++)
        {
            await StartReplicaAsync(
                new ContainerSpec
                {
                    Name = ReplicaName(spec.Id, replica),
                    Image = spec.Image,
                    Network = Network,
                    Labels = spec.Labels,
                    RestartPolicy = "unless-stopped",
                    Volumes = volumes,
                    Environment = spec.Environment,
                },
                replica,
                ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Starts the network's long-lived probe. Not being able to is not this stage's failure: the health check then starts a
    /// probe of its own, and says what fails.
    /// </summary>
    private async Task StartNetworkProbeAsync(string name, ReleaseSpec spec, CancellationToken ct)
    {
        var labels = new Dictionary<string, string>
        {
            [Labels.Role] = Roles.Probe,
            [Labels.Network] = Network,
            [Labels.DeployId] = spec.Id.DeployId,
        };
        try
        {
            _ = await ProductionProbe.StartAsync(Engine, ProbeImage, Network, name, labels, CredentialsFor(spec), _time, longLived: true, ct).ConfigureAwait(false);
        }
        catch (DockerEngineException)
        {
        }
    }

    /// <summary>The network's long-lived probe when one runs (the first by name), or null.</summary>
    private async Task<ContainerInfo?> RunningProbeAsync(CancellationToken ct) =>
        (await Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Role] = Roles.Probe, [Labels.Network] = Network }, ct).ConfigureAwait(false))
            .Where(c => c.IsRunning && c.NetworkAddresses.ContainsKey(Network))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .FirstOrDefault();

    /// <inheritdoc />
    public async Task<ReleaseAddresses> WaitHealthyAsync(ReleaseSpec spec, TimeSpan timeout, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var replicas = await ReplicasAsync(spec.Id, ct).ConfigureAwait(false);
        if (replicas.Count == 0)
        {
            throw new ReleaseUnhealthyException($"{spec.Id.Name} has no container on {Engine.Endpoint}: it was removed before it became healthy.");
        }

        // The network's long-lived probe when one runs; else one for this check, with the release's labels, removed after it.
        ProductionProbe? own = null;
        var probe = await RunningProbeAsync(ct).ConfigureAwait(false) is { } running
            ? ProductionProbe.Attach(Engine, running.Id, running.Name, _time)
            : own = await StartOwnProbeAsync(spec, timeout, ct).ConfigureAwait(false);
        try
        {
            return await WaitHealthyAsync(spec, timeout, replicas, ProbeAsync, ct).ConfigureAwait(false);
        }
        finally
        {
            if (own is not null)
            {
                await own.DisposeAsync().ConfigureAwait(false);
            }
        }

        async Task<(bool Ok, string Answer)> ProbeAsync(string url, CancellationToken deadline)
        {
            try
            {
                return await probe.GetAsync(url, deadline).ConfigureAwait(false);
            }
            catch (DockerEngineException e) when (own is null && e.StatusCode is 404 or 409)
            {
                // The network's probe went meanwhile (the rollback of the deploy that started it): ask from one of our own.
                probe = own = await StartOwnProbeAsync(spec, timeout, ct).ConfigureAwait(false);
                return await probe.GetAsync(url, deadline).ConfigureAwait(false);
            }
        }
    }

    private Task<ProductionProbe> StartOwnProbeAsync(ReleaseSpec spec, TimeSpan timeout, CancellationToken ct)
    {
        var probeLabels = new Dictionary<string, string>(spec.Labels) { [Labels.Role] = Roles.Probe };
        var probeName = $"{spec.Id.Name}-probe-{Guid.NewGuid().ToString("N")[..4]}";
        return ProductionProbe.StartWithinAsync(Engine, ProbeImage, Network, probeName, probeLabels, CredentialsFor(spec), _time, timeout, spec.Id.Name, ct);
    }

    private async Task<ReleaseAddresses> WaitHealthyAsync(
        ReleaseSpec spec,
        TimeSpan timeout,
        IReadOnlyList<ContainerInfo> replicas,
        Func<string, CancellationToken, Task<(bool Ok, string Answer)>> probeAsync,
        CancellationToken ct)
    {
        var healthy = new Dictionary<string, ReleaseEndpoint>();
        var current = replicas.ToDictionary(c => c.Id, c => (ContainerInfo?)c);
        var urls = replicas.ToDictionary(c => c.Id, _ => $"its health path {spec.HealthPath}");
        var last = replicas.ToDictionary(c => c.Id, _ => "no answer yet");

        void ThrowIfStopped(ContainerInfo original)
        {
            // A release that exits at start (restart policy: "restarting") has no address to ask.
            if (current[original.Id] is not { IsRunning: true } now)
            {
                throw new ReleaseUnhealthyException(
                    $"{original.Name} stopped ({current[original.Id]?.State ?? "removed"}) before {urls[original.Id]} answered; last answer: {last[original.Id]}. Its output: docker logs {original.Name}.");
            }
        }

        async Task<bool> AllAnswerAsync(CancellationToken deadline)
        {
            foreach (var replica in replicas.Where(r => !healthy.ContainsKey(r.Id)))
            {
                ThrowIfStopped(replica);
                var address = AddressOf(current[replica.Id]!);
                var url = urls[replica.Id] = $"http://{Host(address)}:{spec.Port.ToString(CultureInfo.InvariantCulture)}{spec.HealthPath}";
                var (ok, answer) = await probeAsync(url, deadline).ConfigureAwait(false);
                if (ok)
                {
                    healthy[replica.Id] = new ReleaseEndpoint(address, spec.Port, null, replica.Id);
                    continue;
                }

                last[replica.Id] = answer;
                current[replica.Id] = await Engine.InspectContainerAsync(replica.Id, deadline).ConfigureAwait(false);
                ThrowIfStopped(replica);
            }

            return healthy.Count == replicas.Count;
        }

        if (!await Poll.UntilAsync(AllAnswerAsync, timeout, PollInterval, _time, ct).ConfigureAwait(false))
        {
            var late = replicas.First(r => !healthy.ContainsKey(r.Id));
            var elsewhere = await ListeningElsewhereAsync(late.Id, spec.Port, ct).ConfigureAwait(false);
            throw new ReleaseUnhealthyException(
                $"{late.Name} did not become healthy within {timeout.TotalSeconds:0.#} s: {urls[late.Id]} last answered: {last[late.Id]}.{elsewhere} Raise --health-timeout or fix the service's {spec.HealthPath}.");
        }

        return new ReleaseAddresses(spec.Id, spec.Id.Name, replicas.Select(r => healthy[r.Id]).ToList(), DirectUrl(healthy[replicas[0].Id]));
    }

    /// <summary>" It listens on … instead": when the container listens, but not where the probe asks (another port, or loopback only); else empty.</summary>
    private async Task<string> ListeningElsewhereAsync(string containerId, int port, CancellationToken ct)
    {
        var listening = await ServicePorts.ListeningAsync(Engine, containerId, ct).ConfigureAwait(false) ?? [];
        var reachable = listening.Where(p => !p.LoopbackOnly).Select(p => p.Port).ToList();
        return listening.Any(p => p.Port == port && p.LoopbackOnly)
            ? $" It listens on port {port} on its loopback address only: make it listen on all addresses (0.0.0.0)."
            : reachable.Count > 0 && !reachable.Contains(port)
            ? $" It listens on port {string.Join(", ", reachable)}, not on {port}: set --service-port={reachable[0]} (or make the service listen on $PORT)."
            : "";
    }

    /// <inheritdoc />
    public async Task<ReleaseAddresses?> AddressesAsync(ReleaseId release, int port, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        var endpoints = (await ReplicasAsync(release, ct).ConfigureAwait(false))
            .Where(c => c.IsRunning && c.NetworkAddresses.ContainsKey(Network))
            .Select(c => new ReleaseEndpoint(c.NetworkAddresses[Network], port, null, c.Id))
            .ToList();
        return endpoints.Count == 0 ? null : new ReleaseAddresses(release, release.Name, endpoints, DirectUrl(endpoints[0]));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RuntimeRelease>> ListAsync(string service, CancellationToken ct = default)
    {
        var selector = new Dictionary<string, string> { [Labels.Service] = service, [Labels.Role] = Roles.Release };
        var containers = await Engine.ListContainersAsync(selector, ct).ConfigureAwait(false);
        var volumes = await Engine.ListVolumesAsync(selector, ct).ConfigureAwait(false);
        return containers.Select(c => (c.Labels, c.Name))
            .Concat(volumes.Select(v => (v.Labels, v.Name)))
            .Where(r => r.Labels.ContainsKey(Labels.Color) && r.Labels.ContainsKey(Labels.DeployId))
            .GroupBy(r => new ReleaseId(service, r.Labels[Labels.Color], r.Labels[Labels.DeployId]))
            .Select(g => new RuntimeRelease(g.Key, g.Select(r => r.Labels.GetValueOrDefault(Labels.Version)).FirstOrDefault(v => v is not null), g.Select(r => r.Name).Order(StringComparer.Ordinal).ToList()))
            .OrderBy(r => r.Id.DeployId, StringComparer.Ordinal)
            .ToList();
    }

    /// <inheritdoc />
    public async Task ScaleAsync(ReleaseId release, int replicas, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        var existing = await ReplicasAsync(release, ct).ConfigureAwait(false);
        var numbered = existing.Select(c => (Number: ReplicaNumber(c), Container: c)).OrderBy(r => r.Number).ToList();
        foreach (var (_, extra) in numbered.Skip(replicas).Reverse())
        {
            await Engine.RemoveContainerAsync(extra.Id, ct).ConfigureAwait(false);
        }

        if (numbered.Count >= replicas)
        {
            return;
        }

        var model = numbered.Count == 0
            ? throw new ReleaseNotFoundException($"{release.Name} has no container on {Engine.Endpoint} to copy; deploy it again instead of scaling it.")
            : await Engine.InspectContainerAsync(numbered[0].Container.Id, ct).ConfigureAwait(false)
              ?? throw new ReleaseNotFoundException($"{numbered[0].Container.Name} disappeared while {release.Name} was being scaled.");
        var taken = numbered.Select(r => r.Number).ToHashSet();
        for (var replica = 1; taken.Count < replicas; replica++)
        {
            if (taken.Add(replica))
            {
                await StartReplicaAsync(
                    new ContainerSpec
                    {
                        Name = ReplicaName(release, replica),
                        Image = model.Image,
                        Network = Network,
                        Labels = model.Labels,
                        RestartPolicy = model.RestartPolicy,
                        Volumes = model.Volumes,
                        Environment = model.Environment,
                    },
                    replica,
                    ct).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public async Task RemoveAsync(ReleaseId release, TimeSpan stopTimeout, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        foreach (var container in await Engine.ListContainersAsync(release.Selector, ct).ConfigureAwait(false))
        {
            if (stopTimeout > TimeSpan.Zero && container.IsRunning)
            {
                await Engine.StopContainerAsync(container.Id, stopTimeout, ct).ConfigureAwait(false);
            }

            await Engine.RemoveContainerAsync(container.Id, ct).ConfigureAwait(false);
        }

        foreach (var volume in await Engine.ListVolumesAsync(release.Selector, ct).ConfigureAwait(false))
        {
            await Engine.RemoveVolumeAsync(volume.Name, ct).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public Task<RuntimeSnapshot> SnapshotAsync(string service, CancellationToken ct = default) =>
        EngineSnapshot.CaptureAsync(Engine, service, Network, [], [], null, ct);

    /// <inheritdoc />
    /// <remarks>
    /// The tests run in the network stack of the network's long-lived probe when one runs (it is on the network and has
    /// reached the release): a container that joins a running one's stack starts in about a third of the time of one
    /// that gets its own address and interface on the network (125 against 370 ms with the docker CLI here). Tests of
    /// deploys running at once on the same network share that stack, and so its ports. Without a probe, or with extra
    /// host names (Docker refuses them in a joined stack), the tests get their own place on the network.
    /// </remarks>
    public async Task<TestRunResult> RunTestsAsync(TestRun run, RegistryCredentials? credentials, Action<string>? onOutput = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (!builtHere)
        {
            await Engine.PullImageAsync(ImageRef.Parse(run.Image), credentials, null, ct).ConfigureAwait(false);
        }

        var probe = run.ExtraHosts.Count == 0 ? await RunningProbeAsync(ct).ConfigureAwait(false) : null;
        var network = probe is null ? Network : TestRun.NetworkOf(probe.Id);
        return await new TestContainerRunner(Engine, _time).RunAsync(run with { Network = network }, onOutput, ct).ConfigureAwait(false);
    }

    /// <summary>The name of a replica: <c>{release name}</c> for the first, <c>{release name}-{N}</c> for the others.</summary>
    public static string ReplicaName(ReleaseId release, int replica) => replica == 1 ? release.Name : $"{release.Name}-{replica}";

    private async Task StartReplicaAsync(ContainerSpec spec, int replica, CancellationToken ct)
    {
        var labels = new Dictionary<string, string>(spec.Labels) { [Labels.Replica] = replica.ToString(CultureInfo.InvariantCulture) };
        var id = await Engine.CreateContainerAsync(spec with { Labels = labels }, ct).ConfigureAwait(false);
        await Engine.StartContainerAsync(id, ct).ConfigureAwait(false);
    }

    /// <summary>The release's replica containers, by replica number.</summary>
    private async Task<IReadOnlyList<ContainerInfo>> ReplicasAsync(ReleaseId release, CancellationToken ct) =>
        (await Engine.ListContainersAsync(new Dictionary<string, string>(release.Selector) { [Labels.Role] = Roles.Release }, ct).ConfigureAwait(false))
            .OrderBy(ReplicaNumber)
            .ToList();

    private static int ReplicaNumber(ContainerInfo container) =>
        int.TryParse(container.Labels.GetValueOrDefault(Labels.Replica), NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : 1;

    private string AddressOf(ContainerInfo container) =>
        container.NetworkAddresses.TryGetValue(Network, out var address) && address.Length > 0
            ? address
            : throw new DockerEngineException($"Container {container.Name} has no address on network {Network}.");

    private RegistryCredentials? CredentialsFor(ReleaseSpec spec) =>
        ImageRef.TryParse(ProbeImage, out var probe, out _) && ImageRef.TryParse(spec.Image, out var image, out _) && probe.Registry == image.Registry
            ? spec.Credentials
            : null;

    private static string Host(string address) => address.Contains(':') ? $"[{address}]" : address;

    private static Uri DirectUrl(ReleaseEndpoint endpoint) => new($"http://{Host(endpoint.Address)}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}/");
}
