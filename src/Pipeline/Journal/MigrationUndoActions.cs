namespace Pipeline.Journal;

/// <summary>
/// The undo actions of the migration stages. Reverting needs the database, which the journal never holds: the
/// context hands in how to reach it (its own <c>DATABASE_URL</c>) as delegates.
/// </summary>
public static class MigrationUndoActions
{
    /// <summary>The four actions: revert (with a down script), keep, stop a runner, and the contract point of no return.</summary>
    /// <param name="revert">Reverts the migration the step's arguments name, if that deploy applied that file; false when there was nothing to revert.</param>
    /// <param name="stopSessions">Ends the database sessions of the runner container named by its argument.</param>
    public static UndoAction[] Create(
        Func<IReadOnlyDictionary<string, string?>, CancellationToken, Task<bool>> revert,
        Func<string, CancellationToken, Task> stopSessions) =>
        [new RevertMigrationAction(revert), new KeepMigrationAction(), new StopMigrationRunnerAction(stopSessions), new ContractMigrationAction()];

    private static string Id(UndoStep step) =>
        $"{step.Arguments.GetValueOrDefault("number")?.PadLeft(3, '0')}_{step.Arguments.GetValueOrDefault("name")}";

    /// <summary><c>revert-migration</c>: the down script, in one transaction with deleting the row, only for what the step's deploy applied.</summary>
    private sealed class RevertMigrationAction(Func<IReadOnlyDictionary<string, string?>, CancellationToken, Task<bool>> revert) : UndoAction
    {
        public override string Kind => UndoKinds.RevertMigration;

        public override string StillInPlace(UndoStep step) => $"expand migration {Id(step)}";

        public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
        {
            if (step.DeployId is null || step.Arguments.GetValueOrDefault("deployId") != step.DeployId)
            {
                throw new UndoRefusedException($"it names deploy {step.Arguments.GetValueOrDefault("deployId") ?? "(none)"}, not the deploy that journaled it ({step.DeployId ?? "none"})");
            }

            return await revert(step.Arguments, ct)
                ? new UndoOutcome(step.Description)
                : new UndoOutcome($"expand migration {Id(step)} was not applied by deploy {step.DeployId}: nothing to revert");
        }
    }

    /// <summary><c>keep-migration</c>: nothing to do; an additive expand migration without a down script stays.</summary>
    private sealed class KeepMigrationAction : UndoAction
    {
        public override string Kind => UndoKinds.KeepMigration;

        public override string StillInPlace(UndoStep step) => $"expand migration {Id(step)}";

        public override Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct) => Task.FromResult(new UndoOutcome(step.Description));
    }

    /// <summary><c>contract-migration</c>: nothing can be done; the report says so plainly.</summary>
    private sealed class ContractMigrationAction : UndoAction
    {
        public override string Kind => UndoKinds.ContractMigration;

        public override string StillInPlace(UndoStep step) => $"contract migration {Id(step)}";

        public override Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct) => Task.FromResult(new UndoOutcome(step.Description));
    }

    /// <summary>
    /// <c>stop-migration-runner {name}</c>: ends the runner's database sessions (an unfinished migration rolls back
    /// instead of running on after its pipeline died), then removes the container, if it is this service's migration
    /// runner from the step's deploy.
    /// </summary>
    private sealed class StopMigrationRunnerAction(Func<string, CancellationToken, Task> stopSessions) : UndoAction
    {
        public override string Kind => UndoKinds.StopMigrationRunner;

        public override string StillInPlace(UndoStep step) => $"migration runner {step.Arguments.GetValueOrDefault("name")}";

        public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
        {
            var name = step.Required("name");
            var container = await scope.Production.InspectContainerAsync(name, ct);
            if (container is not null)
            {
                scope.RequireCreatedBy(step, $"container {name}", container.Labels, ofThisService: true, Roles.Migration);
            }

            try
            {
                await stopSessions(name, ct);
            }
            finally
            {
                // Without the database, removing the container still ends psql: the server then rolls the transaction
                // back once the statement it is running ends.
                if (container is not null)
                {
                    await scope.Production.RemoveContainerAsync(container.Id, ct);
                }
            }

            return new UndoOutcome(step.Description);
        }
    }
}
