using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Preflight;

namespace Pipeline.Tasks;

/// <summary>
/// The first stage. Changes nothing anywhere: validates the options, then checks with short timeouts that the
/// engines, the service registry, the image registry (and its credentials), the proxy port, the proxy image and
/// the proxy template are usable, and fails with one message that lists every problem with its fix.
/// </summary>
[TaskName("Preflight")]
[TaskDescription("Checks options, engines, registries, the proxy port, image and template, without changing anything.")]
public sealed class Preflight : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var started = context.Time.GetTimestamp();
        var options = context.Options;
        await new PreflightChecks(options, () => context.CdEngine, () => context.ProductionEngine, () => context.ServiceRegistry)
            .EnsureAsync(context.CancellationToken);
        context.Log.Information($"Preflight: engines, registries, proxy port, image and template are ready ({context.Time.GetElapsedTime(started).TotalMilliseconds:0} ms).");
    }
}
