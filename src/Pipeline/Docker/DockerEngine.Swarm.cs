using System.Globalization;
using System.Net;
using Docker.DotNet;
using Models = Docker.DotNet.Models;

namespace Pipeline.Docker;

/// <summary><see cref="ISwarmEngine"/> on the same Engine API client: services, tasks, nodes and overlay networks.</summary>
public sealed partial class DockerEngine : ISwarmEngine
{
    /// <inheritdoc />
    public Task<SwarmInfo> GetSwarmInfoAsync(CancellationToken ct = default) =>
        CallAsync("reading the swarm state", async () =>
        {
            var info = await _client.System.GetSystemInfoAsync(ct).ConfigureAwait(false);
            var swarm = info.Swarm;
            var state = swarm?.LocalNodeState?.ToLowerInvariant() switch
            {
                null or "" or "inactive" => SwarmLocalState.Inactive,
                "pending" => SwarmLocalState.Pending,
                "active" => SwarmLocalState.Active,
                "locked" => SwarmLocalState.Locked,
                _ => SwarmLocalState.Error,
            };
            return new SwarmInfo(
                state,
                swarm?.ControlAvailable ?? false,
                NullIfEmpty(swarm?.NodeID),
                NullIfEmpty(swarm?.NodeAddr),
                NullIfEmpty(swarm?.Cluster?.ID),
                (int)(swarm?.Managers ?? 0),
                (int)(swarm?.Nodes ?? 0),
                NullIfEmpty(swarm?.Error));
        });

    /// <inheritdoc />
    public Task<string> CreateServiceAsync(SwarmServiceSpec spec, RegistryCredentials? credentials = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var parameters = new Models.ServiceCreateParameters { Service = ToDocker(spec), RegistryAuth = ServiceAuth(spec, credentials)! };
        return CallAsync($"creating service {spec.Name} from image {spec.Image}", async () =>
        {
            var created = await _client.Swarm.CreateServiceAsync(parameters, ct).ConfigureAwait(false);
            return created.ID ?? "";
        });
    }

    /// <inheritdoc />
    public async Task UpdateServiceAsync(string idOrName, SwarmServiceSpec spec, RegistryCredentials? credentials = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var what = $"updating service {idOrName} to image {spec.Image}";
        for (var attempt = 1; ; attempt++)
        {
            var current = await InspectServiceAsync(idOrName, ct).ConfigureAwait(false)
                ?? throw new DockerEngineException($"{Capitalise(what)} on {Endpoint} failed: no service is named {idOrName}.", 404);
            try
            {
                await CallAsync(what, async () =>
                {
                    var parameters = new Models.ServiceUpdateParameters { Service = ToDocker(spec), Version = (long)current.Version, RegistryAuth = ServiceAuth(spec, credentials)! };
                    await _client.Swarm.UpdateServiceAsync(current.Id, parameters, ct).ConfigureAwait(false);
                    return true;
                }).ConfigureAwait(false);
                return;
            }
            catch (DockerEngineException e) when (attempt < 3 && e.ResponseBody?.Contains("update out of sequence", StringComparison.OrdinalIgnoreCase) == true)
            {
                // Someone (or Swarm itself) changed the service since we read its version: read it again.
            }
        }
    }

    /// <inheritdoc />
    public Task<SwarmServiceInfo?> InspectServiceAsync(string idOrName, CancellationToken ct = default) =>
        CallAsync($"inspecting service {idOrName}", async () =>
        {
            try
            {
                var service = await _client.Swarm.InspectServiceAsync(idOrName, ct).ConfigureAwait(false);
                return (SwarmServiceInfo?)FromDocker(service);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        });

    /// <inheritdoc />
    public Task RemoveServiceAsync(string idOrName, CancellationToken ct = default) =>
        CallAsync($"removing service {idOrName}", async () =>
        {
            try
            {
                await _client.Swarm.RemoveServiceAsync(idOrName, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SwarmServiceInfo>> ListServicesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"listing services labelled {DescribeLabels(labels)}", async () =>
        {
            var list = await _client.Swarm.ListServicesAsync(new Models.ServiceListParameters { Filters = LabelFilters(labels)! }, ct).ConfigureAwait(false);
            return (IReadOnlyList<SwarmServiceInfo>)list.Select(FromDocker).ToList();
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SwarmTaskInfo>> ListTasksAsync(string serviceIdOrName, CancellationToken ct = default) =>
        CallAsync($"listing the tasks of service {serviceIdOrName}", async () =>
        {
            var filters = new Dictionary<string, IDictionary<string, bool>> { ["service"] = new Dictionary<string, bool> { [serviceIdOrName] = true } };
            IList<Models.TaskResponse> tasks;
            try
            {
                tasks = await _client.Tasks.ListAsync(new Models.TasksListParameters { Filters = filters }, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                // The service was removed: its tasks are still there (stopping) until Swarm forgets them; find them by its id.
                tasks = (await _client.Tasks.ListAsync(new Models.TasksListParameters(), ct).ConfigureAwait(false)).Where(t => t.ServiceID == serviceIdOrName).ToList();
            }

            var nodes = await _client.Swarm.ListNodesAsync(ct).ConfigureAwait(false);
            var hostNames = nodes.ToDictionary(n => n.ID, n => n.Description?.Hostname);
            return (IReadOnlyList<SwarmTaskInfo>)tasks
                .Select(t => new SwarmTaskInfo(
                    t.ID,
                    t.ServiceID ?? "",
                    t.Slot is { } slot ? (int)slot : null,
                    NullIfEmpty(t.NodeID),
                    t.NodeID is { Length: > 0 } node ? hostNames.GetValueOrDefault(node) : null,
                    ToTaskState(t.Status?.State),
                    ToTaskState(t.DesiredState),
                    NullIfEmpty(t.Status?.Message),
                    NullIfEmpty(t.Status?.Err),
                    NullIfEmpty(t.Status?.ContainerStatus?.ContainerID),
                    t.Status?.ContainerStatus is { } container && t.Status.State is Models.TaskState.Complete or Models.TaskState.Failed ? container.ExitCode : null,
                    TaskAddresses(t.NetworksAttachments),
                    t.UpdatedAt is { } updated ? new DateTimeOffset(DateTime.SpecifyKind(updated, DateTimeKind.Utc)) : null))
                .OrderBy(t => t.Slot).ThenByDescending(t => t.UpdatedAt)
                .ToList();
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<SwarmNodeInfo>> ListNodesAsync(CancellationToken ct = default) =>
        CallAsync("listing the swarm's nodes", async () =>
        {
            var nodes = await _client.Swarm.ListNodesAsync(ct).ConfigureAwait(false);
            return (IReadOnlyList<SwarmNodeInfo>)nodes.Select(FromDocker).OrderBy(n => n.HostName, StringComparer.Ordinal).ToList();
        });

    /// <inheritdoc />
    /// <remarks>
    /// The update is confirmed by reading the node back; an update that lost a race with the node's own update (out of
    /// sequence) or that does not show is made again from a fresh read, at most <see cref="NodeUpdateAttempts"/> times.
    /// </remarks>
    public Task SetNodeAvailabilityAsync(string idOrHostName, SwarmNodeAvailability availability, CancellationToken ct = default) =>
        CallAsync($"setting node {idOrHostName} to {availability.ToString().ToLowerInvariant()}", async () =>
        {
            var wanted = availability.ToString().ToLowerInvariant();
            for (var attempt = 1; ; attempt++)
            {
                var nodes = await _client.Swarm.ListNodesAsync(ct).ConfigureAwait(false);
                var byId = nodes.Where(n => n.ID == idOrHostName).ToList();
                var candidates = byId.Count > 0 ? byId : nodes.Where(n => n.Description?.Hostname == idOrHostName).ToList();
                if (candidates.Count > 1)
                {
                    // A node that left and joined again is listed twice under one host name: the live one counts.
                    candidates = candidates.Where(n => !string.Equals(n.Status?.State, "down", StringComparison.OrdinalIgnoreCase)).ToList();
                }

                if (candidates.Count != 1)
                {
                    var known = string.Join(", ", nodes.Select(n => $"{n.Description?.Hostname} ({n.ID[..Math.Min(12, n.ID.Length)]})"));
                    throw new DockerEngineException(
                        $"Setting node {idOrHostName} to {wanted} on {Endpoint} failed: {(candidates.Count == 0 ? "no" : "more than one live")} node has that id or host name. The swarm's nodes: {known}.",
                        404);
                }

                var node = candidates[0];
                if (string.Equals(node.Spec?.Availability, wanted, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }

                var spec = new Models.NodeUpdateParameters
                {
                    Name = node.Spec?.Name!,
                    Labels = node.Spec?.Labels ?? new Dictionary<string, string>(),
                    Role = node.Spec?.Role!,
                    Availability = wanted,
                };
                try
                {
                    await _client.Swarm.UpdateNodeAsync(node.ID, node.Version?.Index ?? 0, spec, ct).ConfigureAwait(false);
                }
                catch (DockerApiException e) when (attempt < NodeUpdateAttempts && e.ResponseBody?.Contains("out of sequence", StringComparison.OrdinalIgnoreCase) == true)
                {
                    continue;
                }

                var now = await _client.Swarm.InspectNodeAsync(node.ID, ct).ConfigureAwait(false);
                if (string.Equals(now.Spec?.Availability, wanted, StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }

                if (attempt >= NodeUpdateAttempts)
                {
                    throw new DockerEngineException(
                        $"Setting node {idOrHostName} ({node.ID}) to {wanted} on {Endpoint} failed: the manager accepted the update {attempt} times, but the node still shows availability '{now.Spec?.Availability}'.");
                }
            }
        });

    /// <summary>How many times <see cref="SetNodeAvailabilityAsync"/> updates a node before it gives up.</summary>
    private const int NodeUpdateAttempts = 3;

    /// <inheritdoc />
    public async Task<string> EnsureOverlayNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        await _networkLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await CallAsync($"creating overlay network {name}", async () =>
            {
                if (await FindNetworkAsync(name, ct).ConfigureAwait(false) is { } found)
                {
                    // A swarm network shows no driver until the manager's allocator has handled it (a few ms after creation).
                    var existing = found;
                    for (var attempt = 0; existing.Driver is not { Length: > 0 } && existing.Scope == "swarm" && attempt < 50; attempt++)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
                        existing = await _client.Networks.InspectNetworkAsync(found.ID, ct).ConfigureAwait(false);
                    }

                    if (existing.Driver != "overlay" || !existing.Attachable)
                    {
                        throw new DockerEngineException(
                            $"Network {name} on {Endpoint} exists but is {(existing.Driver == "overlay" ? "an overlay that is not attachable" : $"a {existing.Driver} network")}; an attachable overlay is needed. Remove it (docker network rm {name}) or choose another name.");
                    }

                    return existing.ID;
                }

                var created = await _client.Networks.CreateNetworkAsync(
                    new Models.NetworksCreateParameters { Name = name, Driver = "overlay", Attachable = true, Labels = labels.ToDictionary() }, ct).ConfigureAwait(false);
                return created.ID;
            }).ConfigureAwait(false);
        }
        finally
        {
            _networkLock.Release();
        }
    }

    // ------------------------------------------------------------------ our types ⇄ the Engine API's

    internal static Models.ServiceSpec ToDocker(SwarmServiceSpec spec) => new()
    {
        Name = spec.Name,
        Labels = spec.Labels.ToDictionary(),
        TaskTemplate = new Models.TaskSpec
        {
            ContainerSpec = new Models.ContainerSpec
            {
                Image = spec.Image,
                Command = spec.Command?.ToList()!,
                Args = spec.Args?.ToList()!,
                Env = spec.Environment.Select(kv => $"{kv.Key}={kv.Value}").ToList(),
                Labels = spec.ContainerLabels.ToDictionary(),
                StopGracePeriod = spec.StopGracePeriod,
            },
            RestartPolicy = new Models.SwarmRestartPolicy
            {
                Condition = spec.RestartPolicy.Condition switch
                {
                    SwarmRestartCondition.None => "none",
                    SwarmRestartCondition.OnFailure => "on-failure",
                    _ => "any",
                },
                Delay = spec.RestartPolicy.Delay,
                MaxAttempts = spec.RestartPolicy.MaxAttempts is { } attempts ? (ulong)attempts : null,
                Window = spec.RestartPolicy.Window,
            },
            Placement = new Models.Placement
            {
                Constraints = spec.Constraints.ToList(),
                Preferences = spec.SpreadOver.Select(s => new Models.PlacementPreference { Spread = new Models.SpreadOver { SpreadDescriptor = s } }).ToList(),
            },
            Networks = spec.Networks.Select(n => new Models.NetworkAttachmentConfig { Target = n }).ToList(),
            ForceUpdate = spec.ForceUpdate,
        },
        Mode = new Models.ServiceMode { Replicated = new Models.ReplicatedService { Replicas = (ulong)spec.Replicas } },
        UpdateConfig = ToDocker(spec.Update),
        RollbackConfig = ToDocker(spec.Rollback),
        EndpointSpec = new Models.EndpointSpec
        {
            Mode = spec.EndpointMode == SwarmEndpointMode.Dnsrr ? "dnsrr" : "vip",
            Ports = spec.Ports.Select(p => new Models.PortConfig
            {
                Protocol = "tcp",
                TargetPort = (uint)p.TargetPort,
                PublishedPort = (uint)p.PublishedPort,
                PublishMode = p.Mode == SwarmPublishMode.Host ? "host" : "ingress",
            }).ToList(),
        },
    };

    private static Models.SwarmUpdateConfig ToDocker(SwarmUpdatePolicy policy) => new()
    {
        Parallelism = (ulong)policy.Parallelism,
        Order = policy.Order == SwarmUpdateOrder.StartFirst ? "start-first" : "stop-first",
        FailureAction = policy.FailureAction.ToString().ToLowerInvariant(),
        Delay = policy.Delay,
        Monitor = policy.Monitor,
    };

    internal static SwarmServiceInfo FromDocker(Models.SwarmService service)
    {
        var spec = service.Spec;
        var task = spec?.TaskTemplate;
        var container = task?.ContainerSpec;
        var restart = task?.RestartPolicy;
        return new SwarmServiceInfo(
            service.ID,
            spec?.Name ?? "",
            service.Version?.Index ?? 0,
            new SwarmServiceSpec
            {
                Name = spec?.Name ?? "",
                Image = container?.Image ?? "",
                Command = container?.Command?.ToList(),
                Args = container?.Args?.ToList(),
                Environment = (container?.Env ?? []).Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : ""),
                Labels = ToReadOnly(spec?.Labels),
                ContainerLabels = ToReadOnly(container?.Labels),
                Replicas = (int)(spec?.Mode?.Replicated?.Replicas ?? 0),
                Networks = (task?.Networks ?? []).Select(n => n.Target).OfType<string>().ToList(),
                RestartPolicy = new SwarmRestartPolicy(
                    restart?.Condition switch { "none" => SwarmRestartCondition.None, "on-failure" => SwarmRestartCondition.OnFailure, _ => SwarmRestartCondition.Any },
                    restart?.Delay,
                    restart?.MaxAttempts is { } attempts ? (int)attempts : null,
                    restart?.Window),
                Constraints = task?.Placement?.Constraints?.ToList() ?? [],
                SpreadOver = (task?.Placement?.Preferences ?? []).Select(p => p.Spread?.SpreadDescriptor).OfType<string>().ToList(),
                EndpointMode = spec?.EndpointSpec?.Mode == "dnsrr" ? SwarmEndpointMode.Dnsrr : SwarmEndpointMode.Vip,
                Update = FromDocker(spec?.UpdateConfig),
                Rollback = FromDocker(spec?.RollbackConfig),
                Ports = (spec?.EndpointSpec?.Ports ?? []).Select(p => new SwarmPort(
                    (int)(p.TargetPort ?? 0),
                    (int)(p.PublishedPort ?? 0),
                    p.PublishMode == "host" ? SwarmPublishMode.Host : SwarmPublishMode.Ingress)).ToList(),
                StopGracePeriod = container?.StopGracePeriod,
                ForceUpdate = task?.ForceUpdate ?? 0,
            },
            NullIfEmpty(service.UpdateStatus?.State),
            NullIfEmpty(service.UpdateStatus?.Message));
    }

    private static SwarmUpdatePolicy FromDocker(Models.SwarmUpdateConfig? config) => config is null
        ? new SwarmUpdatePolicy(Order: SwarmUpdateOrder.StopFirst)
        : new SwarmUpdatePolicy(
            (int)config.Parallelism,
            config.Order == "start-first" ? SwarmUpdateOrder.StartFirst : SwarmUpdateOrder.StopFirst,
            config.FailureAction switch { "continue" => SwarmUpdateFailureAction.Continue, "rollback" => SwarmUpdateFailureAction.Rollback, _ => SwarmUpdateFailureAction.Pause },
            config.Delay ?? TimeSpan.Zero,
            config.Monitor);

    private static SwarmNodeInfo FromDocker(Models.NodeListResponse node) => new(
        node.ID,
        node.Description?.Hostname ?? "",
        node.Spec?.Role == "manager" ? SwarmNodeRole.Manager : SwarmNodeRole.Worker,
        node.Spec?.Availability?.ToLowerInvariant() switch { "pause" => SwarmNodeAvailability.Pause, "drain" => SwarmNodeAvailability.Drain, _ => SwarmNodeAvailability.Active },
        node.Status?.State?.ToLowerInvariant() switch { "ready" => SwarmNodeStatus.Ready, "down" => SwarmNodeStatus.Down, "disconnected" => SwarmNodeStatus.Disconnected, _ => SwarmNodeStatus.Unknown },
        NullIfEmpty(node.Status?.Addr),
        node.ManagerStatus?.Leader ?? false,
        ToReadOnly(node.Spec?.Labels));

    private static SwarmTaskState ToTaskState(Models.TaskState? state) =>
        state is { } known && Enum.TryParse<SwarmTaskState>(known.ToString(), ignoreCase: true, out var ours) ? ours : SwarmTaskState.New;

    private static IReadOnlyDictionary<string, string> TaskAddresses(IList<Models.NetworkAttachment>? attachments) =>
        (attachments ?? [])
            .Select(a => (Network: a.Network?.Spec?.Name, Address: a.Addresses?.FirstOrDefault()))
            .Where(a => a.Network is { Length: > 0 } && a.Address is { Length: > 0 })
            .GroupBy(a => a.Network!)
            .ToDictionary(g => g.Key, g => g.First().Address!.Split('/')[0]);

    private static Models.AuthConfig? ServiceAuth(SwarmServiceSpec spec, RegistryCredentials? credentials) =>
        credentials is null ? null : ToAuthConfig(ImageRef.Parse(spec.Image), credentials);

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
