using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>
/// Builds the test image from Dockerfile.tests and runs it with TEST_TYPE=pre-deployment. Production is not touched.
/// The service image (BuildImage's work) builds beside it, since neither needs the other.
/// </summary>
[TaskName("PreDeploymentTests")]
[TaskDescription("Builds the test image from Dockerfile.tests and runs it with TEST_TYPE=pre-deployment.")]
[IsDependentOn(typeof(Preflight))]
public sealed class PreDeploymentTests : DeploymentStage
{
    /// <summary>
    /// The test image of a service: <c>{registry}/{service}/tests:{version}</c>. A service name has no <c>/</c>, so
    /// no service's own image (<c>{registry}/{service}</c>) can ever be another service's test image.
    /// </summary>
    public static ImageRef TestImage(string registry, string service, string version) => ImageRef.Parse($"{registry}/{service}/tests:{version}");

    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        context.State.ServiceImageBuild = context.StartBeside(token => BuildImage.BuildAsync(context, token));
        var testImage = ReleaseImages.Tests(context);
        if (context.Options.FromRegistry)
        {
            await ReleaseImages.PullAsync(context, testImage, "  [pull tests] ", ct);
        }
        else
        {
            await context.CdEngine.BuildImageAsync(
                new ImageBuildRequest(context.Options.ServiceDirectory, "Dockerfile.tests", [testImage], context.ImageLabelsFor(Roles.Test)),
                new LogProgress(context.Log, "  [build tests] "),
                ct);
        }

        context.State.TestImage = testImage;
        await TestStage.RunAsync(context, TestType.PreDeployment, targetUrl: null, network: null, ct);
    }
}
