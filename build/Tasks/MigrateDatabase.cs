using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Migrations;

namespace Build.Tasks;

/// <summary>
/// Applies the pending migrations of <c>--service-dir</c> (<c>--phase=expand</c>, the default, or <c>contract</c>) to the
/// database in <c>DATABASE_URL</c> (read from the environment only), from a container on <c>--network</c>: the static
/// gate first, then one transaction per migration, recorded in pipeline_migrations. A tool for running migrations by
/// hand; a deploy runs them itself (Migrate, ContractMigrations).
/// </summary>
[TaskName("MigrateDatabase")]
[TaskDescription("Applies --service-dir's pending migrations (--phase=expand|contract) to DATABASE_URL from a container on --network.")]
public sealed class MigrateDatabase : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var options = context.Options;
        var phaseName = context.Arguments.HasArgument("phase") ? context.Arguments.GetArgument("phase") : "expand";
        var phase = phaseName switch
        {
            "expand" => MigrationPhase.Expand,
            "contract" => MigrationPhase.Contract,
            _ => throw new CakeException(1, $"--phase={phaseName}: use --phase=expand or --phase=contract"),
        };
        var value = Environment.GetEnvironmentVariable("DATABASE_URL")
            ?? throw new CakeException(1, "DATABASE_URL is not set; export it (e.g. DATABASE_URL=\"$(cat /var/lib/pipeline-local/postgres/pipeline-postgres.url)\")");
        try
        {
            var database = DatabaseUrl.Parse(value);
            var migrations = MigrationSet.LoadFromServiceDirectory(options.ServiceDirectory);
            ExpandGate.Enforce(migrations);
            var report = await new MigrationRunner(
                    context.ProductionEngine,
                    new MigrationRunnerOptions { Database = database, Network = options.Network, Labels = context.LabelsFor(Roles.Migration) },
                    line => context.Log.Information("{0}", line))
                .ApplyPendingAsync(migrations, phase, context.DeployId, ct: context.CancellationToken);
            context.Log.Information("{0}", $"{phaseName}: applied {report.Applied.Count} migration(s) ({string.Join(", ", report.Applied.Select(m => m.Id))}); {report.Plan.AlreadyApplied.Count} were applied before.");
        }
        catch (FormatException e)
        {
            throw new CakeException(1, $"DATABASE_URL: {e.Message}");
        }
        catch (Exception e) when (e is InvalidMigrationsException or ExpandMigrationRefusedException or MigrationHistoryException
                                      or MigrationFailedException or DatabaseUnreachableException or DockerEngineException)
        {
            throw new CakeException(1, e.Message);
        }
    }
}
