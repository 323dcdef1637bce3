using System.Globalization;
using Cake.Core.Diagnostics;
using Pipeline.History;
using Pipeline.Journal;
using Pipeline.Locking;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Timing;

namespace Pipeline.Healing;

/// <summary>What one Heal pass found and did.</summary>
/// <param name="Outcome">What kind of pass it was.</param>
/// <param name="Summary">One sentence: what was found and what was done.</param>
public sealed record HealReport(HealOutcome Outcome, string Summary);

/// <summary>The kinds of <see cref="HealReport"/>.</summary>
public enum HealOutcome
{
    /// <summary>Everything the registry says should run runs and answers (or nothing is deployed).</summary>
    Healthy,

    /// <summary>A deploy (or another Heal) held the service's lock: nothing was looked at.</summary>
    Skipped,

    /// <summary>Instances fail, but they are not replaced yet (fewer failures than the threshold, or the backoff waits).</summary>
    Watching,

    /// <summary>Instances were replaced, or the registry and proxy were brought back to what runs.</summary>
    Healed,

    /// <summary>The release's replacements in the window are used up: it is taken to be broken and nothing is replaced.</summary>
    Broken,

    /// <summary>A replacement did not become healthy; what the pass changed was undone.</summary>
    Failed,
}

/// <summary>
/// One Heal pass over a service, a small deploy under the service's deploy lock (skipped while a deploy holds it):
/// compares what the registry says should run (the live colour's release, its replicas) with what runs, asks each
/// running instance's health path from the production side, and replaces instances that are gone, exited or failed
/// <see cref="HealingOptions.FailureThreshold"/> checks in a row: copies start first (each recorded in the journal),
/// must answer their health path, then the registry and proxy are switched to them, the journal is cleared, and only
/// then the replaced containers are removed. A failure unwinds the journal. Every replacement counts against the
/// release's backoff (<see cref="ReplacementBackoff"/>). On a swarm, Swarm reschedules tasks that exit or whose node
/// is lost; Heal replaces a task that runs but fails its health path, cordons nodes whose tasks keep failing, and
/// re-registers the addresses the tasks run at (see HealPass.Swarm.cs).
/// </summary>
internal sealed partial class HealPass(DeploymentContext context)
{
    private static readonly TimeSpan RemoveStopTimeout = TimeSpan.FromSeconds(10);

    private ICakeLog Log => context.Log;

    private string Service => context.Service;

    /// <summary>Runs one pass; throws <see cref="HealFailedException"/> when a replacement failed (after undoing the pass) or the release is broken.</summary>
    public async Task<HealReport> RunAsync(CancellationToken ct)
    {
        var now = context.Time.GetUtcNow();
        if (await DeploymentLock.ReadHolderAsync(context.RegistryClient, context.Options.KeyPrefix, Service, ct) is { } holder)
        {
            return new HealReport(HealOutcome.Skipped, $"{Service}: skipped: {holder.Describe(now)} holds its deploy lock; Heal changes nothing while a deploy runs.");
        }

        try
        {
            await context.DeployLock.AcquireAsync(ct);
        }
        catch (DeploymentLockedException e)
        {
            return new HealReport(HealOutcome.Skipped, $"{Service}: skipped: {e.Holder.Describe(context.Time.GetUtcNow())} took its deploy lock first.");
        }

        try
        {
            if ((await context.Journal.ReadAsync(ct)).Count > 0)
            {
                var recovered = await Tasks.AcquireLock.RecoverAsync(context, ct);
                Log.Warning($"A previous run of {Service} died mid-change; its journal was unwound first: {recovered.Summary}.");
                if (!recovered.Complete)
                {
                    throw new HealFailedException($"{Service}: the journal of a run that died mid-change could not be fully unwound ({recovered.Summary}); Heal changed nothing. Run --target=Rollback.");
                }
            }

            return await UnderLockAsync(ct);
        }
        finally
        {
            await context.DeployLock.ReleaseAsync();
        }
    }

    private async Task<HealReport> UnderLockAsync(CancellationToken ct)
    {
        var color = await context.Catalog.GetLiveColorAsync(Service, ct);
        if (color is null)
        {
            return new HealReport(HealOutcome.Healthy, $"{Service} has no live release: nothing to heal.");
        }

        var record = await context.Catalog.GetReleaseAsync(Service, color, ct)
            ?? throw new HealFailedException($"{Service}'s live colour is {color} but {context.Catalog.ReleaseKey(Service, color)} holds no release; Heal cannot tell what should run. Deploy it again.");
        var release = new ReleaseId(Service, color, record.DeployId);
        var runtime = context.Runtime;
        return runtime is SwarmRuntime swarm
            ? await HealSwarmAsync(record, release, swarm, ct)
            : await HealContainersAsync(record, release, new ReleaseInstances(runtime.Engine, runtime.Network), ct);
    }

    private async Task<HealReport> HealContainersAsync(ReleaseRecord record, ReleaseId release, ReleaseInstances instances, CancellationToken ct)
    {
        var options = context.Options.Healing;
        var now = context.Time.GetUtcNow();
        var port = record.AllEndpoints[0].Port;
        var desired = record.DesiredReplicas;
        var ledger = new HealthLedger(context.ServiceRegistry, context.Options.KeyPrefix, Service);
        var found = await instances.ListAsync(release, ct);
        var failing = await ledger.ReadInstancesAsync(ct);

        // Ask every running instance's health path from the production side.
        var serving = new List<ReleaseInstance>();
        var replace = new List<(ReleaseInstance Instance, string Why)>();
        await using (var probe = await ReplicaHealth.StartProbeAsync(context, release, ct))
        {
            foreach (var instance in found)
            {
                if (!instance.Running)
                {
                    replace.Add((instance, $"{instance.Name} is {instance.State}"));
                    continue;
                }

                var (ok, answer) = await probe.GetAsync(ReplicaHealth.Url(context, instance.Address!, port), ct);
                if (ok)
                {
                    if (failing.ContainsKey(instance.Name))
                    {
                        await ledger.ForgetInstanceAsync(instance.Name, ct);
                    }

                    serving.Add(instance);
                    continue;
                }

                var health = await CountFailureAsync(ledger, failing, instance.Name, answer, now, ct);
                var line = $"{instance.Name} failed its health path {health.Failures} time(s) in a row (last: {answer})";
                if (ReachedThreshold(health, line, options))
                {
                    replace.Add((instance, line));
                }
                else
                {
                    serving.Add(instance);
                }
            }
        }

        // Forget the failures of instances that no longer exist.
        foreach (var gone in failing.Keys.Where(name => found.All(i => i.Name != name)))
        {
            await ledger.ForgetInstanceAsync(gone, ct);
        }

        var missing = Math.Max(0, desired - found.Count);
        var needed = replace.Count + missing;
        var servingEndpoints = serving.Select(i => Endpoint(i, port)).ToList();
        if (needed == 0)
        {
            return SameAddresses(servingEndpoints, record.AllEndpoints)
                ? new HealReport(failing.Count > 0 || serving.Count < found.Count ? HealOutcome.Watching : HealOutcome.Healthy, $"{release.Name}: {serving.Count} of {desired} replica(s) run and answer {context.Options.HealthPath}.")
                : await ChangeAsync(record, release, [], servingEndpoints, $"re-registered {release.Name} at {string.Join(", ", servingEndpoints)} (the addresses that run)", ct);
        }

        var why = string.Join("; ", replace.Select(r => r.Why).Concat(missing > 0 ? [$"{missing} of {desired} replica(s) are gone"] : []));
        if (await WaitOrBrokenAsync(record, release, servingEndpoints, why, ct) is { } notNow)
        {
            return notNow;
        }

        return await ReplaceAsync(record, release, instances, found, serving, replace.Select(r => r.Instance).ToList(), needed, why, ct);
    }

    /// <summary>
    /// Whether instances of <paramref name="release"/> may be replaced now (<see cref="ReplacementBackoff"/>): null when
    /// they may (the attempt is recorded); else, after routing only to <paramref name="servingEndpoints"/> (when any serve),
    /// the report of a pass that waits, or a <see cref="HealFailedException"/> when the release is taken to be broken.
    /// </summary>
    private async Task<HealReport?> WaitOrBrokenAsync(ReleaseRecord record, ReleaseId release, IReadOnlyList<Runtime.ReleaseEndpoint> servingEndpoints, string why, CancellationToken ct)
    {
        var options = context.Options.Healing;
        var now = context.Time.GetUtcNow();
        var ledger = new HealthLedger(context.ServiceRegistry, context.Options.KeyPrefix, Service);
        var history = await ledger.ReadReplacementsAsync(ct);
        var decision = ReplacementBackoff.Decide(history, release.DeployId, now, options);
        if (decision.Verdict == BackoffVerdict.Replace)
        {
            await ledger.PutReplacementsAsync(ReplacementBackoff.After(history, release.Name, release.DeployId, now, options), ct);
            return null;
        }

        // Not replacing now: at least stop routing to what does not serve.
        if (servingEndpoints.Count > 0 && !SameAddresses(servingEndpoints, record.AllEndpoints))
        {
            await ChangeAsync(record, release, [], servingEndpoints, $"stopped routing to the instances that do not serve", ct);
        }

        if (decision.Verdict == BackoffVerdict.Broken)
        {
            throw new HealFailedException(
                $"{release.Name} ({record.Version}) looks broken: {why}, and its {decision.Recent.Count} replacement(s) since {Time(decision.Recent[0])} UTC used up --heal-max-replacements={options.MaxReplacements} in --heal-window={options.Window.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s. " +
                $"Heal stopped replacing its instances (no restart storm); {servingEndpoints.Count} of {record.DesiredReplicas} replica(s) serve. Fix the release and deploy a new version (or redeploy a good one with --from-registry --release-version=V).",
                broken: true);
        }

        return new HealReport(HealOutcome.Watching, $"{release.Name}: {why}; the next replacement waits until {Time(decision.WaitUntil!.Value)} UTC (backoff after {decision.Recent.Count} replacement(s)).");
    }

    private async Task<HealReport> ReplaceAsync(
        ReleaseRecord record,
        ReleaseId release,
        ReleaseInstances instances,
        IReadOnlyList<ReleaseInstance> found,
        IReadOnlyList<ReleaseInstance> serving,
        IReadOnlyList<ReleaseInstance> replaced,
        int needed,
        string why,
        CancellationToken ct)
    {
        var model = serving.FirstOrDefault() ?? replaced.FirstOrDefault()
            ?? throw new HealFailedException($"{release.Name}: {why}, and no container of it is left to copy (its environment is kept only there). Deploy it again: --target=Deploy --from-registry --release-version={record.Version}.");
        Log.Information($"{release.Name}: {why}. Starting {needed} replacement(s) from {model.Name}.");
        var port = record.AllEndpoints[0].Port;
        var started = context.Time.GetTimestamp();
        try
        {
            var taken = new List<int>();
            var fresh = new List<(string Id, string Name)>();
            for (var i = 0; i < needed; i++)
            {
                var (replica, name) = ReleaseInstances.NextName(release, found, taken);
                taken.Add(replica);
                await context.Journal.RecordAsync(UndoStep.RemoveReplica(release, name), ct);
                fresh.Add((await instances.StartCopyAsync(release, model.Id, replica, name, context.DeployId, ct), name));
            }

            var endpoints = new List<Runtime.ReleaseEndpoint>();
            await using (var probe = await ReplicaHealth.StartProbeAsync(context, release, ct))
            {
                foreach (var (id, name) in fresh)
                {
                    endpoints.Add(await ReplicaHealth.WaitHealthyAsync(context, probe, id, name, port, ct));
                }
            }

            var all = serving.Select(i => Endpoint(i, port)).Concat(endpoints).ToList();
            var summary = $"replaced {(replaced.Count > 0 ? string.Join(", ", replaced.Select(r => r.Name)) : $"{needed} missing replica(s)")} with {string.Join(", ", fresh.Select(f => f.Name))} ({why}); {all.Count} replica(s) serve";
            var report = await ChangeAsync(record, release, replaced, all, summary, ct);
            Log.Information($"Healthy replacement(s) serving after {context.Time.GetElapsedTime(started).TotalSeconds:0.0} s.");
            return report;
        }
        catch (Exception e) when (e is not HealFailedException && e is not OperationCanceledException)
        {
            throw await UndoAsync(record, release, why, e);
        }
    }

    /// <summary>Registers <paramref name="endpoints"/>, routes the proxy to them, commits (journal cleared), then removes <paramref name="replaced"/> and records the heal.</summary>
    private async Task<HealReport> ChangeAsync(ReleaseRecord record, ReleaseId release, IReadOnlyList<ReleaseInstance> replaced, IReadOnlyList<Runtime.ReleaseEndpoint> endpoints, string summary, CancellationToken ct)
    {
        var startedAt = context.Time.GetUtcNow();
        try
        {
            await ReleaseChange.RegisterAndRouteAsync(context, record, endpoints, record.DesiredReplicas, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw await UndoAsync(record, release, summary, e);
        }

        await context.Journal.ClearAsync(ct);
        var ledger = new HealthLedger(context.ServiceRegistry, context.Options.KeyPrefix, Service);
        foreach (var old in replaced)
        {
            if (old.Running)
            {
                await context.Runtime.Engine.StopContainerAsync(old.Id, RemoveStopTimeout, ct);
            }

            await context.Runtime.Engine.RemoveContainerAsync(old.Id, ct);
            await ledger.ForgetInstanceAsync(old.Name, ct);
        }

        await RecordHistoryAsync(record, HistoryOutcomes.Healed, startedAt, summary, ct);
        return new HealReport(HealOutcome.Healed, $"{Service}: {summary}.");
    }

    private async Task<HealFailedException> UndoAsync(ReleaseRecord record, ReleaseId release, string why, Exception cause)
    {
        var startedAt = context.Time.GetUtcNow();
        RollbackReport report;
        try
        {
            report = await context.RollbackRunner.RunAsync();
        }
        catch (Exception rollbackError)
        {
            return new HealFailedException($"{release.Name}: healing failed ({cause.Message}) and undoing it failed too ({rollbackError.Message}); the journal is kept: run --target=Rollback.", cause);
        }

        var summary = $"healing failed: {cause.Message} Undone: {report.Summary}";
        using (var limit = new CancellationTokenSource(context.Options.UndoTimeout, context.Time))
        {
            try
            {
                await RecordHistoryAsync(record, report.Complete ? HistoryOutcomes.RolledBack : HistoryOutcomes.RollbackFailed, startedAt, $"{why}: {summary}", limit.Token);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.Warning($"History: could not record the failed heal of {Service} ({e.Message}).");
            }
        }

        return new HealFailedException($"{release.Name}: {why}; {summary}.", cause);
    }

    private Task RecordHistoryAsync(ReleaseRecord record, string outcome, DateTimeOffset startedAt, string summary, CancellationToken ct) =>
        new ServiceHistory(context.Catalog).RecordAsync(Service, new HistoryRecord(
            HistoryKinds.Heal, context.DeployId, record.Version, record.Color, record.Color, outcome, "Heal",
            startedAt, context.Time.GetUtcNow(), new Dictionary<string, double>(), summary), ct);

    private static Runtime.ReleaseEndpoint Endpoint(ReleaseInstance instance, int port) => new(instance.Address!, port, null, instance.Id);

    private static bool SameAddresses(IEnumerable<Runtime.ReleaseEndpoint> running, IEnumerable<Runtime.ReleaseEndpoint> registered) =>
        running.Select(e => $"{e.Address}:{e.Port}").Order(StringComparer.Ordinal)
            .SequenceEqual(registered.Select(e => $"{e.Address}:{e.Port}").Order(StringComparer.Ordinal));

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>One more failed health check of <paramref name="name"/> in a row, stored in the ledger.</summary>
    private static async Task<InstanceHealth> CountFailureAsync(
        HealthLedger ledger, IReadOnlyDictionary<string, InstanceHealth> failing, string name, string answer, DateTimeOffset now, CancellationToken ct)
    {
        var health = failing.TryGetValue(name, out var before)
            ? before with { Failures = before.Failures + 1, LastAnswer = answer }
            : new InstanceHealth(1, answer, now);
        await ledger.PutInstanceAsync(name, health, ct);
        return health;
    }

    /// <summary>True when the instance failed the threshold of checks in a row; otherwise says when it will be replaced.</summary>
    private bool ReachedThreshold(InstanceHealth health, string line, HealingOptions options)
    {
        if (health.Failures >= options.FailureThreshold)
        {
            return true;
        }

        Log.Warning($"{line}; it is replaced after {options.FailureThreshold}.");
        return false;
    }
}

/// <summary>A Heal pass could not put the service back: a replacement did not become healthy (the pass was undone), or the release is broken.</summary>
public sealed class HealFailedException : Exception
{
    /// <summary>Creates it.</summary>
    public HealFailedException(string message, bool broken = false)
        : base(message) => Broken = broken;

    /// <summary>Creates it with its cause.</summary>
    public HealFailedException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>True when the release's replacements are used up (<see cref="HealOutcome.Broken"/>).</summary>
    public bool Broken { get; }
}
