using Pipeline.Docker;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>
/// Builds the service image from its Dockerfile, tagged with the version, on the CD engine (with <c>--from-registry</c>:
/// pulls that version's image instead), and reads the port it exposes.
/// </summary>
[TaskName("BuildImage")]
[TaskDescription("Builds the service image from its Dockerfile, tagged {registry}/{service}:{version} (--from-registry: pulls it).")]
[IsDependentOn(typeof(PreDeploymentTests))]
public sealed class BuildImage : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var image = ReleaseImages.Service(context);
        if (context.Options.FromRegistry)
        {
            await ReleaseImages.PullAsync(context, image, "  [pull] ", ct);
        }
        else
        {
            await context.CdEngine.BuildImageAsync(
                new ImageBuildRequest(context.Options.ServiceDirectory, "Dockerfile", [image], context.LabelsFor(Roles.Release)),
                new LogProgress(context.Log, "  [build] "),
                ct);
        }

        context.State.Image = image;
        await ReleaseImages.InspectServiceImageAsync(context, image, ct);
    }
}
