using Cake.Core.Diagnostics;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>
/// Pushes the service image and the test image to the image registry (both at once) and keeps the service image's digest.
/// When the production engine is the CD engine (it runs the image it built), the pushes go on beside the next stages
/// (the lock, migrations); DeployRelease waits for them before it changes anything in production, and a failed push is
/// reported as PushImage's.
/// </summary>
[TaskName("PushImage")]
[TaskDescription("Pushes the service image and the test image to the image registry, both at once (beside the lock and migrations when production is the CD engine).")]
[IsDependentOn(typeof(BuildImage))]
public sealed class PushImage : DeploymentStage
{
    /// <summary>Said when the stage is skipped.</summary>
    public string SkippedMessage => "--from-registry: both images are in the image registry already.";

    /// <inheritdoc />
    public override bool ShouldRun(DeploymentContext context) => !context.Options.FromRegistry;

    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var pushes = context.StartBeside(token => PushAsync(context, token));
        if (SameEngine(context))
        {
            context.State.Pushes = pushes;
            return;
        }

        context.State.StageSpans.Add(await pushes);
    }

    /// <summary>True when releases run on the engine that built the image: they need not wait for the registry.</summary>
    internal static bool SameEngine(DeploymentContext context) => context.Options.ProductionEngine == context.Options.CdEngine;

    /// <summary>Waits for pushes left running beside the release, and reports when they ran.</summary>
    internal static async Task AwaitAsync(DeploymentContext context)
    {
        if (context.State.Pushes is { } pushes)
        {
            context.State.Pushes = null;
            StageSpan span;
            try
            {
                span = await pushes;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new StageWorkFailedException("PushImage", e);
            }

            // The stage itself only started them: report when they really ran.
            var state = context.State;
            var at = state.StageSpans.FindIndex(s => s.Stage == span.Stage);
            if (at >= 0)
            {
                state.StageSpans[at] = span;
            }

            var duration = state.StageDurations.FindIndex(s => s.Stage == span.Stage);
            if (duration >= 0)
            {
                state.StageDurations[duration] = (span.Stage, span.Duration);
            }
        }
    }

    private static async Task<StageSpan> PushAsync(DeploymentContext context, CancellationToken ct)
    {
        var started = context.Time.GetTimestamp();
        var start = context.Time.GetUtcNow() - context.State.StartedAt;
        var progress = new LogProgress(context.Log, "  [push] ");
        var digests = await Task.WhenAll(
            context.CdEngine.PushImageAsync(context.State.Image!, context.RegistryCredentials, progress, ct),
            context.CdEngine.PushImageAsync(context.State.TestImage!, context.RegistryCredentials, progress, ct));
        context.State.ImageDigest = digests[0];
        context.Log.Information($"Pushed {context.State.Image} ({digests[0]}) and {context.State.TestImage}.");
        return new StageSpan("PushImage", start, context.Time.GetElapsedTime(started));
    }
}
