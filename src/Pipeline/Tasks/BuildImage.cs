using Pipeline.Docker;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>Builds the service image from its Dockerfile, tagged with the version, on the CD engine.</summary>
[TaskName("BuildImage")]
[TaskDescription("Builds the service image from its Dockerfile, tagged {registry}/{service}:{version}.")]
[IsDependentOn(typeof(PreDeploymentTests))]
public sealed class BuildImage : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var image = ImageRef.Parse($"{context.Options.ImageRegistry}/{context.Service}:{context.Version}");
        await context.CdEngine.BuildImageAsync(
            new ImageBuildRequest(context.Options.ServiceDirectory, "Dockerfile", [image], context.LabelsFor(Roles.Release)),
            new LogProgress(context.Log, "  [build] "),
            ct);
        context.State.Image = image;
    }
}
