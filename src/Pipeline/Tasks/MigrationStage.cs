using Cake.Core.Diagnostics;
using Pipeline.Journal;
using Pipeline.Migrations;

namespace Pipeline.Tasks;

/// <summary>What the migration stages share: the checked migrations, the database, the runner, the contract phase.</summary>
internal static class MigrationStage
{
    /// <summary>The release variable that names the database migrations run against.</summary>
    public const string DatabaseVariable = "DATABASE_URL";

    /// <summary>
    /// The service's migrations, read and checked once (folder convention, every script parses, the static gate),
    /// and the database they need. Throws before anything changes.
    /// </summary>
    /// <exception cref="InvalidMigrationsException">A file is misnamed, shares a number or does not parse.</exception>
    /// <exception cref="ExpandMigrationRefusedException">An expand migration breaks a rule of the static gate.</exception>
    /// <exception cref="MigrationDatabaseMissingException">There are migrations but no usable DATABASE_URL.</exception>
    public static MigrationSet Load(DeploymentContext context)
    {
        if (context.State.Migrations is { } loaded)
        {
            return loaded;
        }

        var migrations = MigrationSet.LoadFromServiceDirectory(context.Options.ServiceDirectory);
        ExpandGate.Enforce(migrations);
        if (migrations.Migrations.Count > 0)
        {
            _ = Database(context);
        }

        return context.State.Migrations = migrations;
    }

    /// <summary>The database the release is given (<c>DATABASE_URL</c> in <c>--release-env</c>).</summary>
    /// <exception cref="MigrationDatabaseMissingException">It is not given or is no postgres:// URL.</exception>
    public static DatabaseUrl Database(DeploymentContext context)
    {
        if (!context.Options.ReleaseEnvironment.TryGetValue(DatabaseVariable, out var value))
        {
            throw new MigrationDatabaseMissingException(
                $"{context.Options.ServiceDirectory}/{MigrationSet.FolderName} holds migrations, but the release is given no {DatabaseVariable}: export it and add --release-env={DatabaseVariable}.");
        }

        try
        {
            return DatabaseUrl.Parse(value);
        }
        catch (FormatException e)
        {
            throw new MigrationDatabaseMissingException($"{DatabaseVariable} (from --release-env): {e.Message}.");
        }
    }

    /// <summary>A runner on the production engine, on the release network, labelled as this run's.</summary>
    public static MigrationRunner Runner(DeploymentContext context, string containerName) => new(
        context.ProductionEngine,
        new MigrationRunnerOptions
        {
            Database = Database(context),
            Network = context.Options.Network,
            Image = context.Options.MigrationImage,
            Labels = context.LabelsFor(Roles.Migration),
            ContainerName = containerName,
        },
        line => context.Log.Information("[migrate] " + line),
        context.Time);

    /// <summary>The undo of <see cref="UndoKinds.RevertMigration"/>: reverts what the journal step names, if that deploy applied it.</summary>
    public static async Task<bool> RevertFromJournalAsync(DeploymentContext context, IReadOnlyDictionary<string, string?> arguments, CancellationToken ct)
    {
        var (migration, deployId) = MigrationUndo.FromArguments(arguments);
        var runner = Runner(context, $"{context.Service}-migrations-undo-{Guid.NewGuid().ToString("N")[..6]}");
        await using var session = await runner.OpenAsync(ct);
        return await session.RevertAsync(migration, deployId, ct);
    }

    /// <summary>Ends the database sessions of a (dead run's) migration runner; its unfinished transaction rolls back.</summary>
    public static async Task StopSessionsAsync(DeploymentContext context, string runnerName, CancellationToken ct)
    {
        if (context.State.Migrations is null && !context.Options.ReleaseEnvironment.ContainsKey(DatabaseVariable))
        {
            return;
        }

        var runner = Runner(context, $"{context.Service}-migrations-undo-{Guid.NewGuid().ToString("N")[..6]}");
        await using var session = await runner.OpenAsync(ct);
        var stopped = await session.TerminateSessionsAsync(runnerName, ct);
        if (stopped > 0)
        {
            context.Log.Information($"Ended {stopped} database session(s) of {runnerName}: its unfinished migration was rolled back.");
        }
    }

    /// <summary>
    /// Applies the pending contract migrations, holding the deploy lock, once no release older than this one is
    /// deployed. Each is journaled first as a point of no return (for a run that dies while it runs); the journal is
    /// cleared when they are done (or when one failed and its transaction was rolled back).
    /// </summary>
    public static async Task ContractAsync(DeploymentContext context, CancellationToken ct)
    {
        var migrations = Load(context);
        if (migrations.Of(MigrationPhase.Contract).Count == 0)
        {
            context.Log.Information($"{context.Service} has no contract migrations.");
            return;
        }

        await context.DeployLock.AcquireAsync(ct);
        try
        {
            var releases = await (await context.ResolveRuntimeAsync(ct)).ListAsync(context.Service, ct);
            var older = releases.Where(r => r.Version != context.Version).ToList();
            if (older.Count > 0 || releases.Count == 0)
            {
                throw new ContractRefusedException(releases.Count == 0
                    ? $"Contract migrations of {context.Service} {context.Version} wait until {context.Version} is deployed; nothing was changed."
                    : $"Contract migrations of {context.Service} {context.Version} wait until no older release is deployed, but {string.Join(", ", older.Select(r => $"{string.Join(", ", r.Names)} ({r.Version})"))} still is; nothing was changed. Deploy {context.Version} (retiring the old colour) first.");
            }

            var runner = Runner(context, $"{context.Service}-contract-{context.DeployId[^6..]}");
            try
            {
                var report = await runner.ApplyPendingAsync(migrations, MigrationPhase.Contract, context.DeployId,
                    async (migration, token) => await context.Journal.RecordAsync(UndoStep.ContractMigration(migration, context.Version), token), ct);
                context.State.ContractedMigrations.AddRange(report.Applied);
                if (report.Applied.Count > 0)
                {
                    context.Log.Information(
                        $"Contract: applied {string.Join(", ", report.Applied.Select(m => m.Id))}. This is a point of no return: the schema cannot go back to what releases before {context.Version} need; "
                        + "to bring back what was removed, write a new expand migration and deploy it.");
                }
                else
                {
                    context.Log.Information($"Contract: nothing pending ({report.Plan.AlreadyApplied.Count} contract migration(s) applied before).");
                }
            }
            finally
            {
                // Applied, or failed with its transaction rolled back: either way nothing is in doubt any more.
                using var cleanup = new CancellationTokenSource(context.Options.UndoTimeout, context.Time);
                await context.Journal.ClearAsync(cleanup.Token);
            }
        }
        finally
        {
            await context.DeployLock.ReleaseAsync();
        }
    }
}

/// <summary>The service has migrations, but no database to run them against; nothing was changed.</summary>
/// <param name="message">What is missing and how to give it.</param>
public sealed class MigrationDatabaseMissingException(string message) : Exception(message);

/// <summary>Contract migrations were asked for while an older release is still deployed; nothing was changed.</summary>
/// <param name="message">Which releases are in the way and what to do.</param>
public sealed class ContractRefusedException(string message) : Exception(message);

/// <summary>The live release failed its own post-integration tests against the migrated schema.</summary>
/// <param name="message">Which release, after which migrations, and the tests' output.</param>
/// <param name="inner">The test failure.</param>
public sealed class LiveReleaseBrokenException(string message, Exception inner) : Exception(message, inner);
