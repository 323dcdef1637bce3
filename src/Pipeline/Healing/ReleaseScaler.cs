using Cake.Core.Diagnostics;
using Pipeline.History;
using Pipeline.Journal;
using Pipeline.Registry;
using Pipeline.Runtime;

namespace Pipeline.Healing;

/// <summary>
/// Changes how many replicas the live release runs, as a small deploy under the service's deploy lock (waiting up to
/// <c>--lock-timeout</c> like a deploy): out, new copies start first (each recorded in the journal), must answer their
/// health path, then the registry and proxy take them; in, the registry and proxy drop the highest-numbered replicas
/// first, the journal is cleared, and only then are those stopped and removed. On a swarm, the service's replica count
/// is changed (<c>restore-replicas</c> recorded first) and the registry and proxy follow the tasks that answer until the
/// count runs. A failure unwinds the journal. A <c>scale</c> entry goes into the history.
/// </summary>
internal sealed class ReleaseScaler(DeploymentContext context)
{
    private static readonly TimeSpan RemoveStopTimeout = TimeSpan.FromSeconds(10);

    private ICakeLog Log => context.Log;

    private string Service => context.Service;

    /// <summary>The live release of the service and the replicas it should run now (its registry record's).</summary>
    /// <exception cref="ScaleFailedException">Nothing is live.</exception>
    public async Task<ReleaseRecord> LiveReleaseAsync(CancellationToken ct)
    {
        var color = await context.Catalog.GetLiveColorAsync(Service, ct)
            ?? throw new ScaleFailedException($"{Service} has no live release to scale; deploy it first (--target=Deploy). Nothing was changed.");
        return await context.Catalog.GetReleaseAsync(Service, color, ct)
            ?? throw new ScaleFailedException($"{Service}'s live colour is {color} but {context.Catalog.ReleaseKey(Service, color)} holds no release; deploy it again. Nothing was changed.");
    }

    /// <summary>Scales the live release to <paramref name="replicas"/>; returns what it did, in one sentence.</summary>
    /// <exception cref="ScaleFailedException">It could not (nothing live, or a new replica did not become healthy: undone).</exception>
    public async Task<string> ScaleAsync(int replicas, string reason, CancellationToken ct)
    {
        await context.DeployLock.AcquireAsync(ct);
        try
        {
            if ((await context.Journal.ReadAsync(ct)).Count > 0)
            {
                var recovered = await Tasks.AcquireLock.RecoverAsync(context, ct);
                Log.Warning($"A previous run of {Service} died mid-change; its journal was unwound first: {recovered.Summary}.");
                if (!recovered.Complete)
                {
                    throw new ScaleFailedException($"{Service}: the journal of a run that died mid-change could not be fully unwound ({recovered.Summary}); nothing was scaled. Run --target=Rollback.");
                }
            }

            return context.Runtime is SwarmRuntime swarm
                ? await UnderLockOnSwarmAsync(swarm, replicas, reason, ct)
                : await UnderLockAsync(replicas, reason, ct);
        }
        finally
        {
            await context.DeployLock.ReleaseAsync();
        }
    }

    private async Task<string> UnderLockAsync(int target, string reason, CancellationToken ct)
    {
        var record = await LiveReleaseAsync(ct);
        var release = new ReleaseId(Service, record.Color, record.DeployId);
        var instances = new ReleaseInstances(context.Runtime.Engine, context.Runtime.Network);
        var found = await instances.ListAsync(release, ct);
        var registered = record.AllEndpoints.Select(e => e.Address).ToHashSet(StringComparer.Ordinal);
        var serving = found.Where(i => i.Running && registered.Contains(i.Address!)).ToList();
        var port = record.AllEndpoints[0].Port;
        var startedAt = context.Time.GetUtcNow();
        if (serving.Count == target && record.DesiredReplicas == target)
        {
            return $"{release.Name} already runs {target} replica(s); nothing was changed.";
        }

        string summary;
        try
        {
            if (target > serving.Count)
            {
                var taken = new List<int>();
                var fresh = new List<(string Id, string Name)>();
                var model = serving.FirstOrDefault()
                    ?? throw new ScaleFailedException($"{release.Name} has no running, registered replica to copy; run --target=Heal first.");
                for (var i = serving.Count; i < target; i++)
                {
                    var (replica, name) = ReleaseInstances.NextName(release, found, taken);
                    taken.Add(replica);
                    await context.Journal.RecordAsync(UndoStep.RemoveReplica(release, name), ct);
                    fresh.Add((await instances.StartCopyAsync(release, model.Id, replica, name, context.DeployId, ct), name));
                }

                var endpoints = serving.Select(i => new ReleaseEndpoint(i.Address!, port, null, i.Id)).ToList();
                await using (var probe = await ReplicaHealth.StartProbeAsync(context, release, ct))
                {
                    foreach (var (id, name) in fresh)
                    {
                        endpoints.Add(await ReplicaHealth.WaitHealthyAsync(context, probe, id, name, port, ct));
                    }
                }

                await ReleaseChange.RegisterAndRouteAsync(context, record, endpoints, target, ct);
                summary = $"scaled {release.Name} out from {serving.Count} to {target} replica(s): started {string.Join(", ", fresh.Select(f => f.Name))} ({reason})";
            }
            else
            {
                var keep = serving.Take(target).ToList();
                await ReleaseChange.RegisterAndRouteAsync(context, record, keep.Select(i => new ReleaseEndpoint(i.Address!, port, null, i.Id)).ToList(), target, ct);
                summary = $"scaled {release.Name} in from {serving.Count} to {target} replica(s): removed {string.Join(", ", serving.Skip(target).Select(i => i.Name))} ({reason})";
            }
        }
        catch (Exception e) when (e is not ScaleFailedException and not OperationCanceledException)
        {
            var report = await context.RollbackRunner.RunAsync();
            await RecordAsync(record, report.Complete ? HistoryOutcomes.RolledBack : HistoryOutcomes.RollbackFailed, startedAt, $"scaling to {target} failed: {e.Message} Undone: {report.Summary}", ct);
            throw new ScaleFailedException($"Scaling {release.Name} to {target} replica(s) failed: {e.Message} Undone: {report.Summary}.", e);
        }

        // Committed: the registry and proxy run the new set. Only now are the dropped replicas stopped (drained: nothing routes to them).
        await context.Journal.ClearAsync(ct);
        foreach (var extra in serving.Skip(target))
        {
            await context.Runtime.Engine.StopContainerAsync(extra.Id, RemoveStopTimeout, ct);
            await context.Runtime.Engine.RemoveContainerAsync(extra.Id, ct);
        }

        await RecordAsync(record, HistoryOutcomes.Scaled, startedAt, summary, ct);
        return summary + ".";
    }

    /// <summary>
    /// On a swarm: records <c>restore-replicas</c> (the service's count now), sets the new count, and follows the tasks
    /// (<see cref="SwarmRollout"/>) until that many run and answer, the registry and proxy moved along. Swarm chooses which
    /// tasks a scale-in stops, so the proxy cannot leave them first: it follows as they stop, and the proxy's retry of a
    /// refused connection covers the moment between.
    /// </summary>
    private async Task<string> UnderLockOnSwarmAsync(SwarmRuntime swarm, int target, string reason, CancellationToken ct)
    {
        var record = await LiveReleaseAsync(ct);
        var release = new ReleaseId(Service, record.Color, record.DeployId);
        var name = SwarmRuntime.ServiceName(release);
        var service = await swarm.Swarm.InspectServiceAsync(name, ct)
            ?? throw new ScaleFailedException($"{Service}'s live release {release.Name} is no service of the swarm behind {swarm.Swarm.Endpoint}; deploy it again (--target=Deploy). Nothing was changed.");
        var before = service.Spec.Replicas;
        var startedAt = context.Time.GetUtcNow();
        if (before == target && record.DesiredReplicas == target && record.AllEndpoints.Count == target)
        {
            return $"{release.Name} already runs {target} replica(s); nothing was changed.";
        }

        var rollout = new SwarmRollout(context, record, release, swarm);
        try
        {
            await context.Journal.RecordAsync(UndoStep.RestoreReplicas(Service, record.Color, record.DeployId, Math.Max(1, before)), ct);
            await swarm.ScaleAsync(release, target, ct);
            await rollout.FollowAsync(target, new HashSet<string>(), new HashSet<string>(), ct);
            await ReleaseChange.RegisterAndRouteAsync(context, record, rollout.Answering.Values.ToList(), target, ct);
        }
        catch (Exception e) when (e is not ScaleFailedException and not OperationCanceledException)
        {
            var report = await context.RollbackRunner.RunAsync();
            await RecordAsync(record, report.Complete ? HistoryOutcomes.RolledBack : HistoryOutcomes.RollbackFailed, startedAt, $"scaling to {target} failed: {e.Message} Undone: {report.Summary}", ct);
            throw new ScaleFailedException($"Scaling {release.Name} to {target} replica(s) failed: {e.Message} Undone: {report.Summary}.", e);
        }

        await context.Journal.ClearAsync(ct);
        var summary = $"scaled {release.Name} {(target > before ? "out" : "in")} from {before} to {target} replica(s): the service {name} runs {rollout.DescribeRunning()} ({reason})";
        await RecordAsync(record, HistoryOutcomes.Scaled, startedAt, summary, ct);
        return summary + ".";
    }

    private Task RecordAsync(ReleaseRecord record, string outcome, DateTimeOffset startedAt, string summary, CancellationToken ct) =>
        new ServiceHistory(context.Catalog).RecordAsync(Service, new HistoryRecord(
            HistoryKinds.Scale, context.DeployId, record.Version, record.Color, record.Color, outcome, "Scale",
            startedAt, context.Time.GetUtcNow(), new Dictionary<string, double>(), summary), ct);
}

/// <summary>Scaling could not be done; the message says why and what was undone.</summary>
public sealed class ScaleFailedException : Exception
{
    /// <summary>Creates it.</summary>
    public ScaleFailedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates it with its cause.</summary>
    public ScaleFailedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
