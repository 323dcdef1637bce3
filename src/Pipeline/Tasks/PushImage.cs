using Cake.Core.Diagnostics;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>Pushes the service image and the test image to the image registry and keeps the service image's digest.</summary>
[TaskName("PushImage")]
[TaskDescription("Pushes the service image and the test image to the image registry.")]
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
        var progress = new LogProgress(context.Log, "  [push] ");
        var pushes = new[]
        {
            context.CdEngine.PushImageAsync(context.State.Image!, context.RegistryCredentials, progress, ct),
            context.CdEngine.PushImageAsync(context.State.TestImage!, context.RegistryCredentials, progress, ct),
        };
        var digests = await Task.WhenAll(pushes);
        context.State.ImageDigest = digests[0];
        context.Log.Information($"Pushed {context.State.Image} ({digests[0]}) and {context.State.TestImage}.");
    }
}
