using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>Runs the test image with TEST_TYPE=pre-integration against the new release itself, not the proxy.</summary>
[TaskName("PreIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=pre-integration, TARGET_URL = the new release (straight, not through the proxy).")]
[IsDependentOn(typeof(RegisterRelease))]
public sealed class PreIntegrationTests : DeploymentStage
{
    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var release = context.State.NewRelease!;
        var targetUrl = $"http://{release.Address}:{release.Port}{release.Route}";
        return TestStage.RunAsync(context, TestType.PreIntegration, targetUrl, context.Options.Network, ct);
    }
}
