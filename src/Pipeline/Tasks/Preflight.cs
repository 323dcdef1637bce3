using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Planning;
using Pipeline.Preflight;

namespace Pipeline.Tasks;

/// <summary>
/// The first stage. Changes nothing anywhere: validates the options, then checks with short timeouts that the
/// engines, the service registry, the image registry (and its credentials), the proxy port, the proxy image and
/// the proxy template are usable, and fails with one message that lists every problem with its fix. It also reads the
/// service's migrations: misnamed files, scripts that do not parse and expand migrations the static gate refuses fail
/// the run here, before anything changed. A redeploy (<c>--from-registry</c>) also needs the version's images in the
/// image registry.
/// </summary>
[TaskName("Preflight")]
[TaskDescription("Checks options, engines, registries, the proxy port, image and template, without changing anything.")]
public sealed class Preflight : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var started = context.Time.GetTimestamp();
        var credentials = context.RegistryCredentials;
        var options = context.Options with { RegistryUsername = credentials?.Username, RegistryPassword = credentials?.Password };
        await new PreflightChecks(options, () => context.CdEngine, () => context.ProductionEngine, () => context.ServiceRegistry)
            .EnsureAsync(context.CancellationToken);
        if (options.FromRegistry)
        {
            await RegistryVersions.EnsureHeldAsync(context, context.CancellationToken);
        }

        var migrations = MigrationStage.Load(context);
        context.Log.Information($"Preflight: engines, registries, proxy port, image and template are ready"
            + (migrations.Migrations.Count > 0 ? $"; {migrations.Migrations.Count} migration(s) checked, the expand ones pass the static gate" : "")
            + $" ({context.Time.GetElapsedTime(started).TotalMilliseconds:0} ms).");
    }
}
