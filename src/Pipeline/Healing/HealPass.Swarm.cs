using Cake.Core.Diagnostics;
using Pipeline.Docker;
using Pipeline.History;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Timing;

namespace Pipeline.Healing;

/// <summary>
/// Heal on a swarm. Swarm itself reschedules a task that exits (by the release's restart policy) or whose node is lost;
/// what it does not do is replace a task that runs but no longer answers its health path. So a pass asks every running
/// task's health path from the production side (a probe on the overlay), counts failures per task in the
/// <see cref="HealthLedger"/> like the containers runtime, and once a task failed
/// <see cref="HealingOptions.FailureThreshold"/> checks in a row (and <see cref="ReplacementBackoff"/> allows it) has Swarm
/// replace the tasks (<see cref="SwarmRuntime.ReplaceEveryTaskAsync"/>), while the registry and proxy follow the task
/// addresses that answer. Otherwise it only re-registers the addresses Swarm's rescheduling changed.
/// </summary>
internal sealed partial class HealPass
{
    /// <summary>How many times a task that gave no HTTP answer is asked again within one pass.</summary>
    private const int UnreachableRetries = 3;

    /// <summary>The pause before asking such a task again.</summary>
    private static readonly TimeSpan UnreachableRetryPause = TimeSpan.FromSeconds(1);

    private async Task<HealReport> HealSwarmAsync(ReleaseRecord record, ReleaseId release, SwarmRuntime swarm, CancellationToken ct)
    {
        var options = context.Options.Healing;
        var now = context.Time.GetUtcNow();
        var port = record.AllEndpoints[0].Port;
        var desired = record.DesiredReplicas;
        var ledger = new HealthLedger(context.ServiceRegistry, context.Options.KeyPrefix, Service);
        var failing = await ledger.ReadInstancesAsync(ct);
        var tasks = await swarm.TasksAsync(release, ct);
        var running = tasks.Where(t => t.IsRunning && t.Addresses.ContainsKey(swarm.Network)).ToList();

        // Ask every running task's health path from the production side.
        var serving = new List<SwarmTaskInfo>();
        var sick = new List<(SwarmTaskInfo Task, string Why)>();
        var ledgerFailing = new HashSet<string>(StringComparer.Ordinal);
        var nodeFailures = tasks
            .Where(t => t.State is SwarmTaskState.Failed or SwarmTaskState.Rejected && t.NodeId is not null && (t.UpdatedAt ?? now) > now - options.NodeWindow)
            .Select(t => (NodeId: t.NodeId!, Failure: new NodeFailure(t.UpdatedAt ?? now, SwarmRollout.TaskName(release, t), $"{t.State.ToString().ToLowerInvariant()}: {t.Error ?? t.Message ?? "no reason given"}")))
            .ToList();
        if (running.Count > 0)
        {
            await using var probe = await ReplicaHealth.StartProbeAsync(context, release, ct);
            foreach (var task in running)
            {
                var name = SwarmRollout.TaskName(release, task);
                var url = ReplicaHealth.Url(context, task.Addresses[swarm.Network], port);
                var (ok, answer) = await probe.GetAsync(url, ct);

                // A probe that just joined the overlay may not reach tasks on other nodes for a moment: an answer that is
                // no HTTP status is asked again a few times before it counts (an HTTP error counts at once).
                for (var again = 0; !ok && !answer.StartsWith("HTTP ", StringComparison.Ordinal) && again < UnreachableRetries; again++)
                {
                    await Task.Delay(UnreachableRetryPause, context.Time, ct);
                    (ok, answer) = await probe.GetAsync(url, ct);
                }

                if (ok)
                {
                    if (failing.ContainsKey(name))
                    {
                        await ledger.ForgetInstanceAsync(name, ct);
                    }

                    serving.Add(task);
                    continue;
                }

                var health = await CountFailureAsync(ledger, failing, name, answer, now, ct);
                ledgerFailing.Add(name);
                if (task.NodeId is { } nodeId)
                {
                    nodeFailures.Add((nodeId, new NodeFailure(now, name, $"health: {answer}")));
                }

                var line = $"task {name} on {task.NodeHostName} failed its health path {health.Failures} time(s) in a row (last: {answer})";
                if (ReachedThreshold(health, line, options))
                {
                    sick.Add((task, line));
                }
                else
                {
                    serving.Add(task);
                }
            }
        }

        // Forget the failures of tasks that no longer run.
        var runningNames = running.Select(t => SwarmRollout.TaskName(release, t)).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in failing.Keys.Where(name => !runningNames.Contains(name)))
        {
            await ledger.ForgetInstanceAsync(gone, ct);
        }

        var (drain, changes) = await CordonNodesAsync(swarm, nodeFailures, now, ct);
        var nodeChanges = changes.ToList();
        var drained = drain.Select(d => d.Decision.NodeId).ToHashSet(StringComparer.Ordinal);
        var moving = running.Where(t => drained.Contains(t.NodeId ?? "")).ToList();
        if (drain.Count > 0 && moving.Count == 0)
        {
            // No task of the service runs there (any more): drain it, nothing to follow.
            await DrainAsync(swarm, drain, now, ct);
            nodeChanges.InsertRange(0, drain.Select(d => $"drained node {d.Decision.HostName} ({d.Decision.Reason})"));
            drained.Clear();
        }

        if (nodeChanges.Count > 0 && drained.Count == 0)
        {
            await RecordHistoryAsync(record, HistoryOutcomes.Healed, now, string.Join("; ", nodeChanges), ct);
        }

        if (running.Count == 0)
        {
            return new HealReport(HealOutcome.Watching, $"{release.Name} has no running task; Swarm reschedules its tasks itself (docker service ps {SwarmRuntime.ServiceName(release)}).{Also(nodeChanges)}");
        }

        var servingEndpoints = serving.Where(t => !drained.Contains(t.NodeId ?? "")).Select(t => SwarmRollout.Endpoint(t, swarm.Network, port)).ToList();
        if (drained.Count > 0)
        {
            // The drain moves the node's tasks (a sick one there included): the proxy leaves them first, then the node is
            // drained and the tasks followed, instead of replacing anything now. Tasks that failed a check are not routed
            // to meanwhile (nor waited for).
            var failed = running.Where(t => ledgerFailing.Contains(SwarmRollout.TaskName(release, t)));
            var excluded = moving.Concat(failed).Select(t => t.Id).ToHashSet(StringComparer.Ordinal);
            servingEndpoints = serving.Where(t => !excluded.Contains(t.Id)).Select(t => SwarmRollout.Endpoint(t, swarm.Network, port)).ToList();
            var what = string.Join("; ", drain.Select(d => $"drained node {d.Decision.HostName} ({d.Decision.Reason})").Concat(nodeChanges));
            return await RollOutAsync(
                record, release, swarm, moving, servingEndpoints, excluded, t => DrainAsync(swarm, drain, now, t),
                $"{what}: Swarm moved {moving.Count} task(s) off it", ct);
        }

        if (sick.Count == 0)
        {
            return SameAddresses(servingEndpoints, record.AllEndpoints)
                ? new HealReport(
                    nodeChanges.Count > 0 ? HealOutcome.Healed : failing.Count > 0 || running.Count < desired ? HealOutcome.Watching : HealOutcome.Healthy,
                    $"{release.Name}: {running.Count} of {desired} task(s) run, {running.Count - ledgerFailing.Count} answer {context.Options.HealthPath}{(ledgerFailing.Count > 0 ? $" ({ledgerFailing.Count} failed it, replaced after {options.FailureThreshold} failures in a row)" : "")}{(running.Count < desired ? "; Swarm starts the others" : "")}.{Also(nodeChanges)}")
                : await ChangeAsync(record, release, [], servingEndpoints, $"re-registered {release.Name} at {string.Join(", ", servingEndpoints)} (the tasks that run)", ct);
        }

        var why = string.Join("; ", sick.Select(s => s.Why));
        if (await WaitOrBrokenAsync(record, release, servingEndpoints, why, ct) is { } notNow)
        {
            return notNow;
        }

        var report = await RollOutAsync(
            record, release, swarm, running, servingEndpoints, sick.Select(s => s.Task.Id).ToHashSet(StringComparer.Ordinal), t => swarm.ReplaceEveryTaskAsync(release, t),
            $"replaced {string.Join(", ", sick.Select(s => $"task {SwarmRollout.TaskName(release, s.Task)} on {s.Task.NodeHostName}"))} ({why}): Swarm replaced every task of it, new before old", ct);
        foreach (var (task, _) in sick)
        {
            await ledger.ForgetInstanceAsync(SwarmRollout.TaskName(release, task), ct);
        }

        return report;
    }

    /// <summary>
    /// Routes only to <paramref name="servingEndpoints"/> (when any), has Swarm act (<paramref name="act"/>: replace every
    /// task, or nothing after a drain), and follows the rollout: whenever the set of tasks that answer (never one of
    /// <paramref name="excluded"/>) changes, the registry and proxy are moved to it; done when the replicas the release
    /// should run are all tasks that answer and none of <paramref name="replaced"/> runs any more.
    /// </summary>
    /// <remarks>
    /// What Swarm did cannot be undone (the old tasks are gone once it rolled out), so a rollout that does not finish
    /// healthy is not unwound either: the registry and proxy are left on the tasks that answer (if any do), the journal is
    /// cleared, and the pass fails naming what runs; the replacement counts against the backoff, so a release whose new
    /// tasks never answer ends as broken, not in a restart storm.
    /// </remarks>
    private async Task<HealReport> RollOutAsync(
        ReleaseRecord record,
        ReleaseId release,
        SwarmRuntime swarm,
        IReadOnlyList<SwarmTaskInfo> replaced,
        IReadOnlyList<ReleaseEndpoint> servingEndpoints,
        IReadOnlySet<string> excluded,
        Func<CancellationToken, Task> act,
        string what,
        CancellationToken ct)
    {
        var desired = record.DesiredReplicas;
        var startedAt = context.Time.GetUtcNow();
        var started = context.Time.GetTimestamp();
        Log.Information($"{release.Name}: {what}; the registry and proxy follow the tasks that answer.");

        var rollout = new SwarmRollout(context, record, release, swarm);
        try
        {
            await rollout.RouteAsync(servingEndpoints, desired, ct);
            await act(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw await UndoAsync(record, release, what, e);
        }

        try
        {
            await rollout.FollowAsync(desired, replaced.Select(t => t.Id).ToHashSet(StringComparer.Ordinal), excluded, ct);
        }
        catch (Exception e) when (e is ReleaseUnhealthyException or DockerEngineException)
        {
            // Not undone (see remarks): keep routing to what answers, say what runs.
            await context.Journal.ClearAsync(ct);
            var summary = $"{what}, but {e.Message}. The proxy routes to {(rollout.Routed.Count == 0 ? "nothing" : string.Join(", ", rollout.Routed))}; running: {rollout.DescribeRunning()}";
            await RecordHistoryAsync(record, HistoryOutcomes.HealFailed, startedAt, summary, ct);
            throw new HealFailedException($"{release.Name}: {summary}. If its new tasks never answer the release itself is broken: deploy a good version.", e);
        }

        var report = await ChangeAsync(record, release, [], rollout.Answering.Values.ToList(), $"{what}; {rollout.Current.Count} task(s) run and answer", ct);
        Log.Information($"Healthy replacement(s) serving after {context.Time.GetElapsedTime(started).TotalSeconds:0.0} s.");
        return report;
    }

    /// <summary>
    /// Records the failures seen on each node and carries out <see cref="NodeCordon"/>'s decisions but the drains: sets
    /// active again, forgets. Returns the nodes to drain (<see cref="DrainAsync"/>, once the proxy no longer routes to
    /// their tasks), and one sentence per change made.
    /// </summary>
    private async Task<(IReadOnlyList<(NodeDecision Decision, NodeRecord Record)> Drain, IReadOnlyList<string> Changes)> CordonNodesAsync(
        SwarmRuntime swarm, IReadOnlyList<(string NodeId, NodeFailure Failure)> seen, DateTimeOffset now, CancellationToken ct)
    {
        var options = context.Options.Healing;
        var ledger = new HealthLedger(context.ServiceRegistry, context.Options.KeyPrefix, Service);
        var nodes = await swarm.Swarm.ListNodesAsync(ct);
        var before = await ledger.ReadNodesAsync(ct);
        var records = new Dictionary<string, NodeRecord>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            var failures = seen.Where(s => s.NodeId == node.Id).Select(s => s.Failure).ToList();
            before.TryGetValue(node.Id, out var old);
            if (old is null && failures.Count == 0)
            {
                continue;
            }

            var record = NodeCordon.Record(old, node, failures, now, options);
            if (record.IsEmpty(now, options))
            {
                await ledger.ForgetNodeAsync(node.Id, ct);
                continue;
            }

            if (record != old)
            {
                await ledger.PutNodeAsync(record, ct);
            }

            records[node.Id] = record;
        }

        foreach (var (id, record) in before.Where(b => !records.ContainsKey(b.Key) && b.Value.DrainedAt is not null))
        {
            records[id] = record;
        }

        var drain = new List<(NodeDecision Decision, NodeRecord Record)>();
        var changes = new List<string>();
        foreach (var decision in NodeCordon.Decide(nodes, records, now, options))
        {
            var record = records[decision.NodeId];
            switch (decision.Verdict)
            {
                case NodeVerdict.Drain:
                    drain.Add((decision, record));
                    break;
                case NodeVerdict.Activate:
                    await swarm.Swarm.SetNodeAvailabilityAsync(decision.NodeId, SwarmNodeAvailability.Active, ct);
                    await ledger.PutNodeAsync(record.Activated(now), ct);
                    Log.Information($"Set node {decision.HostName} active again: {decision.Reason}.");
                    changes.Add($"set node {decision.HostName} active again ({decision.Reason})");
                    break;
                case NodeVerdict.Forget:
                    await ledger.PutNodeAsync(record with { DrainedAt = null, DrainedBecause = null }, ct);
                    Log.Information($"Heal no longer holds node {decision.HostName} drained: {decision.Reason}.");
                    break;
                case NodeVerdict.Keep:
                    Log.Warning($"{decision.Reason}.");
                    break;
            }
        }

        return (drain, changes);
    }

    /// <summary>Drains the nodes (each drain recorded first, so only nodes Heal drained are ever set active by it).</summary>
    private async Task DrainAsync(SwarmRuntime swarm, IReadOnlyList<(NodeDecision Decision, NodeRecord Record)> drain, DateTimeOffset now, CancellationToken ct)
    {
        var ledger = new HealthLedger(context.ServiceRegistry, context.Options.KeyPrefix, Service);
        foreach (var (decision, record) in drain)
        {
            await ledger.PutNodeAsync(record with { DrainedAt = now, DrainedBecause = decision.Reason }, ct);
            await swarm.Swarm.SetNodeAvailabilityAsync(decision.NodeId, SwarmNodeAvailability.Drain, ct);
            Log.Warning($"Drained node {decision.HostName}: {decision.Reason}.");
        }
    }

    private static string Also(IReadOnlyList<string> changes) => changes.Count == 0 ? "" : $" Also: {string.Join("; ", changes)}.";
}
