using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Healing;

namespace Pipeline.Tasks;

/// <summary>
/// Keeps the live release alive: one pass (see <see cref="HealPass"/>) compares what the registry says should run with
/// what runs and replaces instances that are gone, exited or failing their health path, under the service's deploy lock
/// (skipped while a deploy holds it). With <c>--watch</c> it makes a pass every <c>--heal-interval</c> until Ctrl-C or
/// SIGTERM. One pass fails the run when a replacement failed (undone) or the release is broken; a watch logs it and goes on.
/// </summary>
[TaskName("Heal")]
[TaskDescription("Replaces the live release's instances that are gone, exited or fail their health path (--watch: every --heal-interval); skipped while a deploy holds the lock.")]
public sealed class Heal : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var ct = context.CancellationToken;
        var options = context.Options.Healing;
        await context.ResolveVersionAsync(ct);
        await context.Lifecycle.StartAsync("Heal", announce: false, ct);
        await context.ResolveRuntimeAsync(ct);
        var pass = new HealPass(context);
        if (!options.Watch)
        {
            try
            {
                Report(context, await pass.RunAsync(ct));
                return;
            }
            catch (HealFailedException e)
            {
                throw new CakeException(e.Broken ? 3 : 1, e.Message);
            }
        }

        context.Log.Information($"Watching {context.Service}: a pass every {options.Interval.TotalSeconds:0.#} s until Ctrl-C or SIGTERM.");
        while (!ct.IsCancellationRequested)
        {
            try
            {
                Report(context, await pass.RunAsync(ct));
            }
            catch (HealFailedException e)
            {
                context.Log.Error(e.Message);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(options.Interval, context.Time, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
        }

        context.Log.Information($"Stopped watching {context.Service}.");
    }

    private static void Report(DeploymentContext context, HealReport report)
    {
        var line = $"Heal: {report.Summary}";
        if (report.Outcome is HealOutcome.Watching or HealOutcome.Skipped)
        {
            context.Log.Warning(line);
        }
        else
        {
            context.Log.Information(line);
        }
    }
}
