using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>
/// Runs the test image with TEST_TYPE=pre-integration against the new release itself, not the proxy: on the production
/// side, on the release network, where the release answers at the runtime's direct URL.
/// </summary>
[TaskName("PreIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=pre-integration on the production side, TARGET_URL = the new release (straight, not through the proxy).")]
[IsDependentOn(typeof(RegisterRelease))]
public sealed class PreIntegrationTests : DeploymentStage
{
    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var targetUrl = new Uri(context.State.NewAddresses!.DirectUrl, context.Options.Route);
        return context.Runtime.RunTestsAsync(
            TestStage.Run(context, TestType.PreIntegration, targetUrl.ToString(), network: null),
            context.RegistryCredentials,
            line => context.Log.Information(line),
            ct);
    }
}
