using Cake.Core.Diagnostics;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Proxy;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>
/// Runs the test image with TEST_TYPE=pre-integration against the new release itself, not the proxy: on the production
/// side, on the release network, where the release answers at the runtime's direct URL. Meanwhile the session to the
/// proxy's runtime interface is opened, so the switch that follows is only the change.
/// </summary>
[TaskName("PreIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=pre-integration on the production side, TARGET_URL = the new release (straight, not through the proxy).")]
[IsDependentOn(typeof(RegisterRelease))]
public sealed class PreIntegrationTests : DeploymentStage
{
    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        // Meanwhile, open the session to the proxy's runtime interface, so the switch that follows is only the change.
        context.State.ProxyPrepared = PrepareProxyAsync(context.Proxy, ct);
        var targetUrl = new Uri(context.State.NewAddresses!.DirectUrl, context.Options.Route);
        return context.Runtime.RunTestsAsync(
            TestStage.Run(context, TestType.PreIntegration, targetUrl.ToString(), network: null),
            context.RegistryCredentials,
            line => context.Log.Information(line),
            ct);
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
