using System.Globalization;
using Pipeline.Docker;
using Pipeline.Testing;
using Pipeline.Timing;

namespace Pipeline.Runtime;

/// <summary>
/// Releases as Docker Swarm services, through a manager: a colour is the service <c>{service}-{color}-{deployid6}</c>
/// (its tasks found by name on the attachable overlay <see cref="Network"/>, endpoint mode dnsrr unless told vip), its
/// image pinned by digest, restarted on failure a bounded number of times, updated and rolled back start-first, spread
/// over the nodes. Health is asked from a probe container on the manager attached to the overlay, at every task's
/// address; the tests of a release run in the network stack of such a probe, once every task answered it. Volumes are
/// refused: a named volume is local to one node.
/// </summary>
public sealed class SwarmRuntime : IReleaseRuntime
{
    /// <summary>The pause between looks at the tasks and health requests.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a removed release's tasks may take to stop, beyond their stop grace period.</summary>
    public static readonly TimeSpan RemovalSlack = TimeSpan.FromSeconds(30);

    /// <summary>How a release's tasks restart: on failure, at most 3 times a minute, 2 s apart.</summary>
    public static readonly SwarmRestartPolicy RestartPolicy = new(SwarmRestartCondition.OnFailure, TimeSpan.FromSeconds(2), 3, TimeSpan.FromMinutes(1));

    /// <summary>How long a task gets between SIGTERM and SIGKILL.</summary>
    public static readonly TimeSpan StopGracePeriod = TimeSpan.FromSeconds(10);

    /// <summary>How long a test run waits for the overlay on the manager to reach its target and each of its tasks before the tests start anyway.</summary>
    public static readonly TimeSpan OverlayWarmUp = TimeSpan.FromSeconds(30);

    /// <summary>How many answers in a row (any HTTP status) from the target count as the overlay reaching it (dnsrr rotates the task addresses).</summary>
    private const int OverlayAnswersInARow = 4;

    /// <summary>The label Swarm puts on a task's container.</summary>
    private const string SwarmTaskLabel = "com.docker.swarm.task.id";

    private readonly ISwarmEngine _swarm;
    private readonly SwarmEndpointMode _endpointMode;
    private readonly TimeProvider _time;

    /// <summary>Creates the runtime; nothing is contacted yet.</summary>
    /// <param name="engine">The manager's Engine API (containers: probes, tests, the proxy).</param>
    /// <param name="swarm">The same manager's swarm API.</param>
    /// <param name="network">The attachable overlay network of releases, probes, tests and the proxy.</param>
    /// <param name="probeImage">A busybox image (with <c>timeout</c> and <c>wget</c>) the manager can pull.</param>
    /// <param name="endpointMode">How a service's tasks are found by name: dnsrr (no IPVS needed) or vip.</param>
    /// <param name="time">The clock of waits and timeouts.</param>
    public SwarmRuntime(IDockerEngine engine, ISwarmEngine swarm, string network, string probeImage, SwarmEndpointMode endpointMode = SwarmEndpointMode.Dnsrr, TimeProvider? time = null)
    {
        Engine = engine ?? throw new ArgumentNullException(nameof(engine));
        _swarm = swarm ?? throw new ArgumentNullException(nameof(swarm));
        Network = network;
        ProbeImage = probeImage;
        _endpointMode = endpointMode;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public OrchestratorKind Kind => OrchestratorKind.Swarm;

    /// <inheritdoc />
    public IDockerEngine Engine { get; }

    /// <inheritdoc />
    public string Network { get; }

    /// <summary>The probe image.</summary>
    public string ProbeImage { get; }

    /// <summary>The swarm service of a release: <c>{service}-{color}-{deployid6}</c>.</summary>
    public static string ServiceName(ReleaseId release) => release.Name;

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> CheckAsync(RuntimeRequirements requirements, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(requirements);
        var problems = new List<string>();
        var info = await _swarm.GetSwarmInfoAsync(ct).ConfigureAwait(false);
        if (NotAManager(info, _swarm.Endpoint) is { } notManager)
        {
            return [notManager];
        }

        if (requirements.Volumes.Count > 0)
        {
            problems.Add($"--volume={requirements.Volumes[0]}: releases on a swarm get no volumes (a named volume lives on one node, and a task moves between nodes); drop --volume or deploy with --orchestrator=containers");
        }

        var nodes = await _swarm.ListNodesAsync(ct).ConfigureAwait(false);
        var usable = nodes.Where(n => n.IsReadyAndActive).ToList();
        var described = string.Join(", ", nodes.Select(n => $"{n.HostName} ({n.Role.ToString().ToLowerInvariant()}, {n.Status.ToString().ToLowerInvariant()}, {n.Availability.ToString().ToLowerInvariant()})"));
        if (usable.Count == 0)
        {
            problems.Add($"production engine {_swarm.Endpoint}: no node of the swarm is ready and active ({described}); bring a node back or undrain one (docker node update --availability active NODE)");
        }
        else
        {
            foreach (var constraint in requirements.Constraints)
            {
                if (PlacementConstraint.TryParse(constraint, out var parsed) && parsed.CanEvaluate && !usable.Any(parsed.IsMetBy))
                {
                    problems.Add($"--placement-constraint={constraint}: no ready, active node of the swarm satisfies it (nodes: {described}); fix the constraint or label a node (docker node update --label-add KEY=VALUE NODE)");
                }
            }

            var all = requirements.Constraints.Select(c => PlacementConstraint.TryParse(c, out var p) ? p : null).OfType<PlacementConstraint>().Where(p => p.CanEvaluate).ToList();
            if (problems.Count == 0 && all.Count > 1 && !usable.Any(n => all.All(c => c.IsMetBy(n))))
            {
                problems.Add($"--placement-constraint={string.Join(",", requirements.Constraints)}: no ready, active node satisfies all of them together (nodes: {described}); drop one or label a node");
            }
        }

        var existing = (await Engine.ListNetworksAsync(new Dictionary<string, string>(), ct).ConfigureAwait(false)).FirstOrDefault(n => n.Name == Network);
        if (existing is not null)
        {
            try
            {
                await _swarm.EnsureOverlayNetworkAsync(Network, new Dictionary<string, string>(), ct).ConfigureAwait(false);
            }
            catch (DockerEngineException e) when (e.StatusCode is null)
            {
                problems.Add($"--network={Network}: {e.Message}");
            }
        }

        return problems;
    }

    /// <summary>Why an engine cannot take services (not in a swarm, or a worker), naming the fix; null for an active manager.</summary>
    public static string? NotAManager(SwarmInfo info, DockerEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(info);
        return info switch
        {
            { IsManager: true } => null,
            { LocalState: SwarmLocalState.Active } =>
                $"production engine {endpoint} is a swarm worker, not a manager: services are created only through a manager. Point --production-docker-host (PRODUCTION_DOCKER_HOST) at a manager (docker node ls on it lists the swarm), or deploy plain containers on this engine with --orchestrator=containers",
            { LocalState: SwarmLocalState.Locked } =>
                $"production engine {endpoint} is a locked swarm manager: unlock it (docker swarm unlock) and deploy again",
            { LocalState: SwarmLocalState.Inactive } =>
                $"production engine {endpoint} is not part of a swarm, but --orchestrator=swarm was asked for: make it a manager (docker swarm init) or deploy with --orchestrator=containers (or auto)",
            _ =>
                $"production engine {endpoint} is not an active swarm manager (state {info.LocalState.ToString().ToLowerInvariant()}{(info.Error is null ? "" : $": {info.Error}")}); fix the swarm or point --production-docker-host at an active manager",
        };
    }

    /// <inheritdoc />
    public async Task<bool> NetworkExistsAsync(CancellationToken ct = default) =>
        (await Engine.ListNetworksAsync(new Dictionary<string, string>(), ct).ConfigureAwait(false)).Any(n => n.Name == Network);

    /// <inheritdoc />
    public Task EnsureNetworkAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        _swarm.EnsureOverlayNetworkAsync(Network, labels, ct);

    /// <inheritdoc />
    /// <remarks>Always null: on a swarm each health check starts a probe of its own on the manager.</remarks>
    public Task<string?> ProbeToStartAsync(CancellationToken ct = default) => Task.FromResult<string?>(null);

    /// <inheritdoc />
    public async Task<string> StartAsync(ReleaseSpec spec, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(spec.Replicas, 1);
        if (spec.Volumes.Count > 0)
        {
            throw new ArgumentException($"Release {spec.Id.Name}: a swarm release gets no volumes (a named volume lives on one node); drop them or deploy with --orchestrator=containers.", nameof(spec));
        }

        var name = ServiceName(spec.Id);
        var containerLabels = new Dictionary<string, string>(spec.Labels) { [Labels.Role] = Roles.Release };
        await _swarm.CreateServiceAsync(
            new SwarmServiceSpec
            {
                Name = name,
                Image = spec.PinnedImage,
                Environment = spec.Environment,
                Labels = containerLabels,
                ContainerLabels = containerLabels,
                Replicas = spec.Replicas,
                Networks = [Network],
                RestartPolicy = RestartPolicy,
                Constraints = spec.Constraints,
                SpreadOver = spec.SpreadOver,
                EndpointMode = _endpointMode,
                Update = new SwarmUpdatePolicy(1, SwarmUpdateOrder.StartFirst, SwarmUpdateFailureAction.Pause),
                Rollback = new SwarmUpdatePolicy(1, SwarmUpdateOrder.StartFirst, SwarmUpdateFailureAction.Pause),
                StopGracePeriod = StopGracePeriod,
            },
            spec.Credentials,
            ct).ConfigureAwait(false);
        progress?.Report($"Created service {name} ({spec.Replicas} replica(s) of {spec.PinnedImage}); the nodes pull the image.");
        return name;
    }

    /// <inheritdoc />
    public async Task<ReleaseAddresses> WaitHealthyAsync(ReleaseSpec spec, TimeSpan timeout, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var name = ServiceName(spec.Id);
        var probeLabels = new Dictionary<string, string>(spec.Labels) { [Labels.Role] = Roles.Probe };
        var probeName = $"{spec.Id.Name}-probe-{Guid.NewGuid().ToString("N")[..4]}";
        await using var probe = await ProductionProbe.StartWithinAsync(Engine, ProbeImage, Network, probeName, probeLabels, CredentialsFor(spec), _time, timeout, name, ct).ConfigureAwait(false);

        var healthy = new Dictionary<string, ReleaseEndpoint>();
        var last = "no task running yet";
        var lastUrl = $"its health path {spec.HealthPath}";
        var running = 0;

        async Task<bool> AllAnswerAsync(CancellationToken deadline)
        {
            var tasks = await _swarm.ListTasksAsync(name, deadline).ConfigureAwait(false);
            ThrowIfStuck(spec, name, tasks);
            var current = tasks.Where(t => t.IsRunning && t.Addresses.ContainsKey(Network)).ToList();
            running = current.Count;
            foreach (var gone in healthy.Keys.Where(id => current.All(t => t.Id != id)).ToList())
            {
                healthy.Remove(gone);
            }

            foreach (var task in current.Where(t => !healthy.ContainsKey(t.Id)))
            {
                var address = task.Addresses[Network];
                lastUrl = $"http://{Host(address)}:{spec.Port.ToString(CultureInfo.InvariantCulture)}{spec.HealthPath}";
                var (ok, answer) = await probe.GetAsync(lastUrl, deadline).ConfigureAwait(false);
                if (ok)
                {
                    healthy[task.Id] = new ReleaseEndpoint(address, spec.Port, task.NodeHostName, task.ContainerId ?? task.Id);
                }
                else
                {
                    // A probe that just joined the overlay cannot reach tasks on other nodes for a few seconds: not yet, not a failure.
                    last = $"{answer} (task {task.Slot} on {task.NodeHostName})";
                }
            }

            return healthy.Count >= spec.Replicas && current.All(t => healthy.ContainsKey(t.Id));
        }

        if (!await Poll.UntilAsync(AllAnswerAsync, timeout, PollInterval, _time, ct).ConfigureAwait(false))
        {
            throw new ReleaseUnhealthyException(
                $"{name} did not become healthy within {timeout.TotalSeconds:0.#} s: {running} of {spec.Replicas} task(s) running, {healthy.Count} answering; {lastUrl} last answered: {last}. Raise --health-timeout or fix the service's {spec.HealthPath} (docker service ps {name} shows its tasks).");
        }

        var endpoints = healthy.Values.OrderBy(e => e.Node, StringComparer.Ordinal).ThenBy(e => e.Address, StringComparer.Ordinal).ToList();
        return new ReleaseAddresses(spec.Id, name, endpoints, DirectUrl(name, spec.Port));
    }

    /// <summary>Fails at once on what waiting cannot fix: a task the nodes rejected or that failed, or one no node can take.</summary>
    private static void ThrowIfStuck(ReleaseSpec spec, string name, IReadOnlyList<SwarmTaskInfo> tasks)
    {
        if (tasks.FirstOrDefault(t => t.State is SwarmTaskState.Rejected or SwarmTaskState.Failed) is { } failed)
        {
            var why = failed.Error ?? failed.Message ?? "no reason given";
            var exit = failed.ExitCode is { } code ? $", exit code {code}" : "";
            throw new ReleaseUnhealthyException(
                $"{name}: task {failed.Slot} on {failed.NodeHostName ?? "no node"} {failed.State.ToString().ToLowerInvariant()}{exit}: {why}. " +
                (failed.State == SwarmTaskState.Rejected
                    ? $"The node could not run it: check that every node can pull {spec.PinnedImage} (docker service ps --no-trunc {name})."
                    : $"Its output: docker service logs {name}."));
        }

        if (tasks.FirstOrDefault(t => t.State == SwarmTaskState.Pending && $"{t.Error} {t.Message}".Contains("no suitable node", StringComparison.OrdinalIgnoreCase)) is { } pending)
        {
            var constraints = spec.Constraints.Count == 0 ? "no placement constraint" : $"placement constraint(s) {string.Join(", ", spec.Constraints)}";
            throw new ReleaseUnhealthyException(
                $"{name}: task {pending.Slot} cannot be placed: {pending.Error ?? pending.Message} ({constraints}). Fix --placement-constraint or make a node satisfy it.");
        }
    }

    /// <inheritdoc />
    public async Task<ReleaseAddresses?> AddressesAsync(ReleaseId release, int port, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        var name = ServiceName(release);
        var endpoints = (await _swarm.ListTasksAsync(name, ct).ConfigureAwait(false))
            .Where(t => t.IsRunning && t.Addresses.ContainsKey(Network))
            .Select(t => new ReleaseEndpoint(t.Addresses[Network], port, t.NodeHostName, t.ContainerId ?? t.Id))
            .ToList();
        return endpoints.Count == 0 ? null : new ReleaseAddresses(release, name, endpoints, DirectUrl(name, port));
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<RuntimeRelease>> ListAsync(string service, CancellationToken ct = default)
    {
        var services = await _swarm.ListServicesAsync(new Dictionary<string, string> { [Labels.Service] = service, [Labels.Role] = Roles.Release }, ct).ConfigureAwait(false);
        return services
            .Where(s => s.Spec.Labels.ContainsKey(Labels.Color) && s.Spec.Labels.ContainsKey(Labels.DeployId))
            .Select(s => new RuntimeRelease(new ReleaseId(service, s.Spec.Labels[Labels.Color], s.Spec.Labels[Labels.DeployId]), s.Spec.Labels.GetValueOrDefault(Labels.Version), [s.Name]))
            .OrderBy(r => r.Id.DeployId, StringComparer.Ordinal)
            .ToList();
    }

    /// <inheritdoc />
    public async Task ScaleAsync(ReleaseId release, int replicas, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        var service = (await _swarm.ListServicesAsync(release.Selector, ct).ConfigureAwait(false)).FirstOrDefault()
            ?? throw new ReleaseNotFoundException($"{ServiceName(release)} is no service of the swarm behind {_swarm.Endpoint}; deploy it again instead of scaling it.");
        if (service.Spec.Replicas != replicas)
        {
            await _swarm.UpdateServiceAsync(service.Id, service.Spec with { Replicas = replicas }, null, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The manager's swarm API (tasks, nodes) for Heal.</summary>
    public ISwarmEngine Swarm => _swarm;

    /// <summary>The release's tasks (any state, including finished ones Swarm still keeps), with their nodes.</summary>
    public Task<IReadOnlyList<SwarmTaskInfo>> TasksAsync(ReleaseId release, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        return _swarm.ListTasksAsync(ServiceName(release), ct);
    }

    /// <summary>
    /// Makes Swarm replace every task of the release with a new one from the same spec (<c>docker service update
    /// --force</c>), rolled out by the service's update policy: one task at a time, the new one started before the old
    /// one is stopped. Returns the service's spec version before the update.
    /// </summary>
    /// <remarks>
    /// This is how Heal replaces a task that runs but fails its health path. Through a manager there is no way to stop one
    /// chosen task: its container lives on its node's engine (which the pipeline may not reach), and a scale-in lets Swarm
    /// pick which tasks go (those not running first, then the most crowded node), so a task that runs but does not answer
    /// could be the one kept. A forced update is what Swarm does reliably: every task, the sick one included, is replaced
    /// start-first, and a new task that exits makes Swarm pause the update (the update state says so).
    /// </remarks>
    /// <exception cref="ReleaseNotFoundException">The release is no service of the swarm.</exception>
    public async Task<ulong> ReplaceEveryTaskAsync(ReleaseId release, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        var service = await _swarm.InspectServiceAsync(ServiceName(release), ct).ConfigureAwait(false)
            ?? throw new ReleaseNotFoundException($"{ServiceName(release)} is no service of the swarm behind {_swarm.Endpoint}; deploy it again.");
        await _swarm.UpdateServiceAsync(service.Id, service.Spec with { ForceUpdate = service.Spec.ForceUpdate + 1 }, null, ct).ConfigureAwait(false);
        return service.Version;
    }

    /// <inheritdoc />
    /// <remarks>Returns once the manager holds none of the release's containers and no task of it runs on a ready node.</remarks>
    public async Task RemoveAsync(ReleaseId release, TimeSpan stopTimeout, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        var services = await _swarm.ListServicesAsync(release.Selector, ct).ConfigureAwait(false);
        foreach (var service in services)
        {
            await _swarm.RemoveServiceAsync(service.Id, ct).ConfigureAwait(false);
        }

        foreach (var container in await Engine.ListContainersAsync(release.Selector, ct).ConfigureAwait(false))
        {
            if (container.Labels.GetValueOrDefault(Labels.Role) != Roles.Release)
            {
                await Engine.RemoveContainerAsync(container.Id, ct).ConfigureAwait(false);
            }
        }

        var left = "";
        async Task<bool> GoneAsync(CancellationToken deadline)
        {
            var ready = (await _swarm.ListNodesAsync(deadline).ConfigureAwait(false)).Where(n => n.Status == SwarmNodeStatus.Ready).Select(n => n.Id).ToHashSet();
            var tasks = new List<SwarmTaskInfo>();
            foreach (var service in services)
            {
                tasks.AddRange((await _swarm.ListTasksAsync(service.Id, deadline).ConfigureAwait(false))
                    .Where(t => t.State <= SwarmTaskState.Running && t.NodeId is { } node && ready.Contains(node)));
            }

            var containers = await Engine.ListContainersAsync(release.Selector, deadline).ConfigureAwait(false);
            left = string.Join(", ", tasks.Select(t => $"task {t.Slot} on {t.NodeHostName} ({t.State.ToString().ToLowerInvariant()})").Concat(containers.Select(c => $"container {c.Name}")));
            return tasks.Count == 0 && containers.Count == 0;
        }

        if (services.Count > 0 && !await Poll.UntilAsync(GoneAsync, StopGracePeriod + RemovalSlack, PollInterval, _time, ct).ConfigureAwait(false))
        {
            throw new DockerEngineException($"Removed service {ServiceName(release)} through {_swarm.Endpoint}, but after {(StopGracePeriod + RemovalSlack).TotalSeconds:0} s these still run: {left}.");
        }
    }

    /// <inheritdoc />
    public async Task<RuntimeSnapshot> SnapshotAsync(string service, CancellationToken ct = default)
    {
        var services = new List<string>();
        foreach (var s in await _swarm.ListServicesAsync(new Dictionary<string, string> { [Labels.Service] = service }, ct).ConfigureAwait(false))
        {
            services.Add($"{s.Name} image={s.Spec.Image} replicas={s.Spec.Replicas} color={s.Spec.Labels.GetValueOrDefault(Labels.Color) ?? "-"} version={s.Spec.Labels.GetValueOrDefault(Labels.Version) ?? "-"}");
            services.AddRange((await _swarm.ListTasksAsync(s.Id, ct).ConfigureAwait(false))
                .Where(t => t.IsRunning)
                .Select(t => $"{s.Name} task {t.Slot} running on {t.NodeHostName} at {t.Addresses.GetValueOrDefault(Network) ?? "-"}"));
        }

        var nodes = (await _swarm.ListNodesAsync(ct).ConfigureAwait(false))
            .Select(n => $"{n.HostName} {n.Role.ToString().ToLowerInvariant()} {n.Status.ToString().ToLowerInvariant()} {n.Availability.ToString().ToLowerInvariant()}")
            .ToList();

        // Task containers on the manager's own node are left out: the service lines cover every task, on every node.
        return await EngineSnapshot.CaptureAsync(
            Engine, service, Network, services.Order(StringComparer.Ordinal).ToList(), nodes, c => !c.Labels.ContainsKey(SwarmTaskLabel), ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// A container that just joined the overlay is reached from another node only once that node has learnt its address
    /// (Swarm gossips each new endpoint to the other nodes: a few seconds on a node that just joined or rejoined, or on a
    /// swarm just made), so a container that reached every task does not prove that a newer one can. The tests therefore
    /// run in the network stack of a probe (its address, routes and name resolution): the probe joins the overlay first
    /// and waits (at most <see cref="OverlayWarmUp"/>) until every running task of the target's service answers it at its
    /// own address and the target's name answers several times in a row; then the tests start from that very address.
    /// </remarks>
    public async Task<TestRunResult> RunTestsAsync(TestRun run, RegistryCredentials? credentials, Action<string>? onOutput = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        await Engine.PullImageAsync(ImageRef.Parse(run.Image), credentials, null, ct).ConfigureAwait(false);
        var probeLabels = new Dictionary<string, string>(run.Labels) { [Labels.Role] = Roles.Probe };
        var probeName = $"{run.ServiceName}-{run.Type.ToContractName()}-probe-{Guid.NewGuid().ToString("N")[..4]}";
        var probeCredentials = ImageRef.TryParse(ProbeImage, out var probeRef, out _) && ImageRef.TryParse(run.Image, out var testRef, out _) && probeRef.Registry == testRef.Registry ? credentials : null;
        await using var probe = await ProductionProbe.StartAsync(Engine, ProbeImage, Network, probeName, probeLabels, probeCredentials, _time, longLived: false, ct).ConfigureAwait(false);
        if (run.TargetUrl is { } target)
        {
            onOutput?.Invoke(await ReachTargetAsync(probe, target, ct).ConfigureAwait(false));
        }

        return await new TestContainerRunner(Engine, _time).RunAsync(run with { Network = TestRun.NetworkOf(probe.Id) }, onOutput, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits (at most <see cref="OverlayWarmUp"/>) until every running task of the service named by the target's host answers
    /// <paramref name="probe"/> at its own address (any HTTP status) and the target itself answers it
    /// <see cref="OverlayAnswersInARow"/> times in a row; returns what it saw, for the log.
    /// </summary>
    private async Task<string> ReachTargetAsync(ProductionProbe probe, Uri target, CancellationToken ct)
    {
        var reached = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var waitingFor = new List<string>();
        var inARow = 0;
        var last = "";
        var port = target.Port.ToString(CultureInfo.InvariantCulture);
        var done = await Poll.UntilAsync(
            async deadline =>
            {
                var tasks = (await _swarm.ListTasksAsync(target.Host, deadline).ConfigureAwait(false))
                    .Where(t => t.IsRunning && t.Addresses.ContainsKey(Network))
                    .ToList();
                waitingFor.Clear();
                foreach (var task in tasks.Where(t => !reached.ContainsKey(t.Id)))
                {
                    var address = task.Addresses[Network];
                    var (ok, answer) = await probe.GetAsync($"{target.Scheme}://{Host(address)}:{port}{target.PathAndQuery}", deadline).ConfigureAwait(false);
                    if (ok || IsHttpAnswer(answer))
                    {
                        reached[task.Id] = $"{address} on {task.NodeHostName}";
                    }
                    else
                    {
                        waitingFor.Add($"task {task.Slot} at {address} on {task.NodeHostName}: {answer}");
                    }
                }

                var (nameOk, nameAnswer) = await probe.GetAsync(target.ToString(), deadline).ConfigureAwait(false);
                inARow = nameOk || IsHttpAnswer(nameAnswer) ? inARow + 1 : 0;
                last = nameAnswer;
                return waitingFor.Count == 0 && inARow >= OverlayAnswersInARow;
            },
            OverlayWarmUp,
            PollInterval,
            _time,
            ct).ConfigureAwait(false);

        var tasksSeen = reached.Count == 0 ? "" : $" and each task of it ({string.Join(", ", reached.Values)})";
        var at = (await Engine.InspectContainerAsync(probe.Id, ct).ConfigureAwait(false))?.NetworkAddresses.GetValueOrDefault(Network) is { } address ? $" at {address}" : "";
        return done
            ? $"(the tests run in the network stack of {probe.Name}{at}, which reached {target}{tasksSeen} on the overlay {Network})"
            : $"(the overlay {Network} did not carry every answer to {probe.Name} within {OverlayWarmUp.TotalSeconds:0} s: {(waitingFor.Count > 0 ? $"no answer from {string.Join("; ", waitingFor)}" : $"{target} answered {inARow} time(s) in a row, last: {last}")}; the tests run anyway, in its network stack)";
    }

    private static bool IsHttpAnswer(string answer) => answer.StartsWith("HTTP ", StringComparison.Ordinal);

    private RegistryCredentials? CredentialsFor(ReleaseSpec spec) =>
        ImageRef.TryParse(ProbeImage, out var probe, out _) && ImageRef.TryParse(spec.Image, out var image, out _) && probe.Registry == image.Registry
            ? spec.Credentials
            : null;

    private static string Host(string address) => address.Contains(':') ? $"[{address}]" : address;

    private static Uri DirectUrl(string service, int port) => new($"http://{service}:{port.ToString(CultureInfo.InvariantCulture)}/");

}
