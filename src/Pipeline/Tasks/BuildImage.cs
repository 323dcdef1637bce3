using Pipeline.Docker;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>
/// Builds the service image from its Dockerfile, tagged with the version, on the CD engine (with <c>--from-registry</c>:
/// pulls that version's image instead), and reads the port it exposes. The work starts beside the pre-deployment tests
/// (it does not depend on them); this stage waits for it, and reports when it really ran.
/// </summary>
[TaskName("BuildImage")]
[TaskDescription("Builds the service image from its Dockerfile, tagged {registry}/{service}:{version} (--from-registry: pulls it; started beside the pre-deployment tests).")]
[IsDependentOn(typeof(PreDeploymentTests))]
public sealed class BuildImage : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var span = await (context.State.ServiceImageBuild ?? BuildAsync(context, ct));
        context.State.StageSpans.Add(span);
    }

    /// <summary>Builds (or pulls) the service image, reads its exposed port, and says when that ran.</summary>
    internal static async Task<StageSpan> BuildAsync(DeploymentContext context, CancellationToken ct)
    {
        var started = context.Time.GetTimestamp();
        var start = context.Time.GetUtcNow() - context.State.StartedAt;
        var image = ReleaseImages.Service(context);
        if (context.Options.FromRegistry)
        {
            await ReleaseImages.PullAsync(context, image, "  [pull] ", ct);
        }
        else
        {
            await context.CdEngine.BuildImageAsync(
                new ImageBuildRequest(context.Options.ServiceDirectory, "Dockerfile", [image], context.ImageLabelsFor(Roles.Release)),
                new LogProgress(context.Log, "  [build] "),
                ct);
        }

        context.State.Image = image;
        await ReleaseImages.InspectServiceImageAsync(context, image, ct);
        return new StageSpan("BuildImage", start, context.Time.GetElapsedTime(started));
    }
}
