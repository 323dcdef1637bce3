using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Proxy;
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
        // Meanwhile, open the session to the proxy's runtime interface, so the switch that follows is only the change.
        context.State.ProxyPrepared = PrepareProxyAsync(context.Proxy, ct);
        var release = context.State.NewRelease!;
        var targetUrl = $"http://{release.Address}:{release.Port}{release.Route}";
        return TestStage.RunAsync(context, TestType.PreIntegration, targetUrl, context.Options.Network, ct);
    }

    private static async Task PrepareProxyAsync(IProxy proxy, CancellationToken ct)
    {
        try
        {
            await proxy.PrepareAsync(ct);
        }
        catch (Exception e) when (e is ProxyException or DockerEngineException or OperationCanceledException)
        {
            // Only a head start: SwitchProxy opens the session itself, and says what failed if it cannot.
        }
    }
}
