using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Journal;

namespace Pipeline.Tasks;

/// <summary>
/// Takes the service's deploy lock (one deploy per service at a time; waits up to <c>--lock-timeout</c>), then
/// recovers from a run that died mid-deploy: with the lock held nobody else is deploying the service, so a
/// journal found now was left by a dead run, and it is unwound before anything else happens.
/// </summary>
[TaskName("AcquireLock")]
[TaskDescription("Takes the service's deploy lock (waits up to --lock-timeout), then unwinds the journal of a run that died mid-deploy.")]
[IsDependentOn(typeof(PushImage))]
public sealed class AcquireLock : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        await context.ResolveRuntimeAsync(ct);
        await context.DeployLock.AcquireAsync(ct);
        var leftover = await context.Journal.ReadAsync(ct);
        if (leftover.Count == 0)
        {
            return;
        }

        context.Log.Warning(
            $"A previous run of {context.Service} died mid-deploy: its journal holds {leftover.Count} undo step(s). Unwinding it before deploying.");
        var report = await RecoverAsync(context, ct);
        if (!report.Complete)
        {
            throw new DeploymentFailedException(
                $"AcquireLock: the journal of a previous run of {context.Service} that died mid-deploy could not be fully unwound: {report.Summary}. " +
                "Nothing of this run was deployed; fix the cause and run --target=Rollback.",
                new InvalidOperationException(report.Summary),
                rolledBack: false);
        }

        context.Log.Information($"Recovered {context.Service} from the dead run: {report.Summary}.");
    }

    /// <summary>
    /// Unwinds the journal a dead run left (with the same <see cref="RollbackRunner"/> a failing stage uses) and
    /// removes that run's orphaned integration-test containers. Call only while holding the service's lock.
    /// </summary>
    internal static async Task<RollbackReport> RecoverAsync(DeploymentContext context, CancellationToken ct)
    {
        var report = await context.RollbackRunner.RunAsync();
        await context.Lifecycle.RecoveredAsync(report);
        var orphans = await RemoveOrphanedTestContainersAsync(context, ct);
        return orphans.Count == 0 ? report : report with { Done = [.. report.Done, .. orphans] };
    }

    /// <summary>
    /// Integration-test containers (labelled with a colour: they run after DeployRelease, under the lock) of
    /// another run of this service, on either engine (pre-integration tests run on the production side,
    /// post-integration tests on the CD engine): while this run holds the lock, their run is dead.
    /// </summary>
    private static async Task<IReadOnlyList<string>> RemoveOrphanedTestContainersAsync(DeploymentContext context, CancellationToken ct)
    {
        var removed = new List<string>();
        var engines = context.Options.ProductionEngine == context.Options.CdEngine
            ? new[] { context.CdEngine }
            : [context.CdEngine, context.ProductionEngine];
        foreach (var engine in engines)
        {
            var tests = await engine.ListContainersAsync(
                new Dictionary<string, string> { [Labels.Service] = context.Service, [Labels.Role] = Roles.Test }, ct);
            foreach (var orphan in tests.Where(c => c.Labels.ContainsKey(Labels.Color) && c.Labels.GetValueOrDefault(Labels.DeployId) != context.DeployId))
            {
                using var timeout = new CancellationTokenSource(context.Options.UndoTimeout, context.Time);
                await engine.RemoveContainerAsync(orphan.Id, timeout.Token);
                removed.Add($"removed orphaned test container {orphan.Name}");
            }
        }

        return removed;
    }
}
