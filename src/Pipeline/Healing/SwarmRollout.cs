using Pipeline.Docker;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Timing;

namespace Pipeline.Healing;

/// <summary>
/// Follows a release's tasks while Swarm changes them (a forced update, a drain, a scale) and keeps the registry and proxy
/// on the tasks that answer their health path (asked from the production side): whenever that set changes, the release's
/// record is re-registered and the proxy re-rendered (<see cref="ReleaseChange"/>, undo recorded first). Used by Heal and
/// Scale on a swarm, holding the service's deploy lock.
/// </summary>
internal sealed class SwarmRollout(DeploymentContext context, ReleaseRecord record, ReleaseId release, SwarmRuntime swarm)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly Dictionary<string, ReleaseEndpoint> _answering = new(StringComparer.Ordinal);

    /// <summary>What the registry and proxy route to now.</summary>
    public IReadOnlyList<ReleaseEndpoint> Routed { get; private set; } = record.AllEndpoints;

    /// <summary>The tasks that ran at the last look.</summary>
    public IReadOnlyList<SwarmTaskInfo> Current { get; private set; } = [];

    /// <summary>The endpoints of the tasks that answered, by task id.</summary>
    public IReadOnlyDictionary<string, ReleaseEndpoint> Answering => _answering;

    /// <summary>A task's name as <c>docker service ps</c> shows it: <c>{service}.{slot}.{task id}</c>.</summary>
    public static string TaskName(ReleaseId release, SwarmTaskInfo task) => $"{SwarmRuntime.ServiceName(release)}.{task.Slot}.{task.Id}";

    /// <summary>Where a running task answers.</summary>
    public static ReleaseEndpoint Endpoint(SwarmTaskInfo task, string network, int port) =>
        new(task.Addresses[network], port, task.NodeHostName, task.ContainerId ?? task.Id);

    /// <summary>Routes to <paramref name="endpoints"/> unless it already does (and there are any).</summary>
    public async Task RouteAsync(IReadOnlyList<ReleaseEndpoint> endpoints, int replicas, CancellationToken ct)
    {
        if (endpoints.Count > 0 && !Same(endpoints, Routed))
        {
            await ReleaseChange.RegisterAndRouteAsync(context, record, endpoints, replicas, ct);
            Routed = endpoints;
        }
    }

    /// <summary>
    /// Waits until <paramref name="replicas"/> tasks run, none of <paramref name="replaced"/> among them, and every one
    /// answers but those of <paramref name="excluded"/> (known to fail: never asked, never routed to); the registry and
    /// proxy follow all along.
    /// </summary>
    /// <exception cref="ReleaseUnhealthyException">Swarm paused the update, or the tasks did not all answer in time.</exception>
    public async Task FollowAsync(int replicas, IReadOnlySet<string> replaced, IReadOnlySet<string> excluded, CancellationToken ct)
    {
        var name = SwarmRuntime.ServiceName(release);
        var port = record.AllEndpoints[0].Port;
        var last = "no new task answered yet";
        var timeout = context.Options.HealthTimeout * (replicas + 1);
        await using var probe = await ReplicaHealth.StartProbeAsync(context, release, ct);
        async Task<bool> DoneAsync(CancellationToken deadline)
        {
            var service = await swarm.Swarm.InspectServiceAsync(name, deadline);
            if (service?.UpdateState is "paused" or "rollback_paused")
            {
                throw new ReleaseUnhealthyException($"Swarm paused the update of {name} ({service.UpdateMessage ?? "no reason given"}): a new task failed to start");
            }

            Current = (await swarm.TasksAsync(release, deadline)).Where(t => t.IsRunning && t.Addresses.ContainsKey(swarm.Network)).ToList();
            foreach (var gone in _answering.Keys.Where(id => Current.All(t => t.Id != id)).ToList())
            {
                _answering.Remove(gone);
            }

            foreach (var task in Current.Where(t => !_answering.ContainsKey(t.Id) && !excluded.Contains(t.Id)))
            {
                var (ok, answer) = await probe.GetAsync(ReplicaHealth.Url(context, task.Addresses[swarm.Network], port), deadline);
                if (ok)
                {
                    _answering[task.Id] = Endpoint(task, swarm.Network, port);
                }
                else if (!replaced.Contains(task.Id))
                {
                    last = $"task {TaskName(release, task)} on {task.NodeHostName}: {answer}";
                }
            }

            // The registry and proxy follow the tasks that answer, as Swarm starts new ones and stops old ones.
            await RouteAsync(_answering.Values.ToList(), replicas, deadline);
            return Current.Count == replicas && Current.All(t => !replaced.Contains(t.Id) && (excluded.Contains(t.Id) || _answering.ContainsKey(t.Id)));
        }

        if (!await Poll.UntilAsync(DoneAsync, timeout, PollInterval, context.Time, ct))
        {
            throw new ReleaseUnhealthyException($"{Current.Count} task(s) of {name} run, {_answering.Count} answer {context.Options.HealthPath}, {replicas} wanted, after {timeout.TotalSeconds:0} s (last: {last})");
        }
    }

    /// <summary>The tasks that run, each with "(not answering)" when it did not answer.</summary>
    public string DescribeRunning() =>
        Current.Count == 0
            ? "no task"
            : string.Join(", ", Current.Select(t => $"{TaskName(release, t)} on {t.NodeHostName}{(_answering.ContainsKey(t.Id) ? "" : " (not answering)")}"));

    private static bool Same(IEnumerable<ReleaseEndpoint> a, IEnumerable<ReleaseEndpoint> b) =>
        a.Select(e => $"{e.Address}:{e.Port}").Order(StringComparer.Ordinal).SequenceEqual(b.Select(e => $"{e.Address}:{e.Port}").Order(StringComparer.Ordinal));
}
