using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Provisioning;

namespace Build.Tasks;

/// <summary>
/// Makes sure a PostgreSQL server runs on the pipeline network (<c>--network</c>) for services that need a database
/// (examples/notes): container <c>--database-container</c> (default pipeline-postgres), data in the volume
/// <c>{container}-data</c>, the application's DATABASE_URL generated once into
/// <c>{--state-dir}/postgres/{container}.url</c> (mode 0600). The URL's password is never logged.
/// </summary>
[TaskName("ProvisionDatabase")]
[TaskDescription("Starts (once) a PostgreSQL container on the pipeline network; its DATABASE_URL goes to a 0600 file under --state-dir.")]
[IsDependentOn(typeof(ProvisionLocalServices))]
public sealed class ProvisionDatabase : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var options = context.Options;
        var stateDirectory = context.Arguments.HasArgument("state-dir") ? context.Arguments.GetArgument("state-dir") : "/var/lib/pipeline-local";
        var container = context.Arguments.HasArgument("database-container") ? context.Arguments.GetArgument("database-container") : "pipeline-postgres";
        var server = new DatabaseServerOptions
        {
            ContainerName = container,
            Network = options.Network,
            CredentialsFile = Path.Combine(stateDirectory, "postgres", container + ".url"),
        };
        try
        {
            var report = await new DatabaseServer(context.ProductionEngine, line => context.Log.Information("{0}", line))
                .EnsureAsync(server, context.CancellationToken);
            context.Log.Information("{0}", $"To deploy examples/notes with it: export DATABASE_URL=\"$(cat {report.CredentialsFile})\"; ./build.sh --service-dir=examples/notes --release-env=DATABASE_URL");
        }
        catch (Exception e) when (e is ProvisioningException or DockerEngineException or ArgumentException)
        {
            throw new CakeException(1, e.Message);
        }
    }
}
