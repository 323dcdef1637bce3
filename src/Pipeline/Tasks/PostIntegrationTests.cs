using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>Runs the test image with TEST_TYPE=post-integration through the proxy.</summary>
[TaskName("PostIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=post-integration, TARGET_URL = the proxy.")]
[IsDependentOn(typeof(SwitchProxy))]
public sealed class PostIntegrationTests : DeploymentStage
{
    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        // The proxy publishes on the host (127.0.0.1 by default): the test container shares the host's network.
        var targetUrl = new Uri(context.Proxy.PublicUrl, context.Options.Route).ToString();
        return TestStage.RunAsync(context, TestType.PostIntegration, targetUrl, network: "host", ct);
    }
}
