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
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        context.State.ServiceImageBuild = context.StartBeside(token => BuildImage.BuildAsync(context, token));
        var testImage = ImageRef.Parse($"{context.Options.ImageRegistry}/{context.Service}-tests:{context.Version}");
        await context.CdEngine.BuildImageAsync(
            new ImageBuildRequest(context.Options.ServiceDirectory, "Dockerfile.tests", [testImage], context.LabelsFor(Roles.Test)),
            new LogProgress(context.Log, "  [build tests] "),
            ct);
        context.State.TestImage = testImage;
        await TestStage.RunAsync(context, TestType.PreDeployment, targetUrl: null, network: null, ct);
    }
}
