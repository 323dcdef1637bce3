using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Migrations;

namespace Pipeline.Tasks;

/// <summary>
/// Runs the service's pending expand migrations (<c>migrations/NNN_name.expand.sql</c>, checked by Preflight) against
/// <c>DATABASE_URL</c>, from a runner container on the release network, one transaction each with its row in
/// <c>pipeline_migrations</c>. Before each it journals the undo: revert with its down script, or keep it (an expand
/// migration only adds, so the old release works with it).
/// </summary>
[TaskName("Migrate")]
[TaskDescription("Applies the pending expand migrations (migrations/NNN_name.expand.sql) to DATABASE_URL, one transaction each.")]
[IsDependentOn(typeof(AcquireLock))]
public sealed class Migrate : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var migrations = MigrationStage.Load(context);
        if (migrations.Of(MigrationPhase.Expand).Count == 0)
        {
            context.Log.Information($"{context.Service} has no expand migrations.");
            return;
        }

        var runnerName = $"{context.Service}-migrations-{context.DeployId[^6..]}";
        await context.Journal.RecordAsync(UndoStep.StopMigrationRunner(runnerName), ct);
        var report = await MigrationStage.Runner(context, runnerName).ApplyPendingAsync(
            migrations,
            MigrationPhase.Expand,
            context.DeployId,
            async (migration, token) =>
            {
                await context.Journal.RecordAsync(migration.Down is null ? UndoStep.KeepMigration(migration) : UndoStep.RevertMigration(migration, context.DeployId), token);
                context.State.AppliedMigrations.Add(migration);
            },
            ct);

        context.Log.Information(report.Applied.Count > 0
            ? $"Migrate: applied {string.Join(", ", report.Applied.Select(m => m.Id))} ({report.Plan.AlreadyApplied.Count} applied before)."
            : $"Migrate: nothing pending ({report.Plan.AlreadyApplied.Count} expand migration(s) applied before).");
    }
}
