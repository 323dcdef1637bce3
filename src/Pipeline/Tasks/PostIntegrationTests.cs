using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>
/// Runs the test image with TEST_TYPE=post-integration through the proxy. With <c>--host-name</c> the tests reach the
/// service by that name: <c>TARGET_URL</c> is <c>http://{host name}:{proxy port}{route}</c> and the container's
/// <c>/etc/hosts</c> points the name at the proxy's address; <c>TARGET_HOST</c> is the host name (the Host header to send)
/// and <c>PROXY_URL</c> the proxy's own address, for tests that set the header themselves.
/// </summary>
[TaskName("PostIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=post-integration, TARGET_URL = the proxy (by --host-name when given).")]
[IsDependentOn(typeof(SwitchProxy))]
public sealed class PostIntegrationTests : DeploymentStage
{
    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        // The proxy publishes on the host (127.0.0.1 by default): the test container shares the host's network.
        var proxyUrl = new Uri(context.Proxy.PublicUrl, context.Options.Route);
        if (context.Options.HostName is not { } host)
        {
            return TestStage.RunAsync(context, TestType.PostIntegration, proxyUrl.ToString(), network: "host", ct);
        }

        var byName = new UriBuilder(proxyUrl) { Host = host }.Uri.ToString();
        return TestStage.RunAsync(
            context,
            TestType.PostIntegration,
            byName,
            network: "host",
            ct,
            environment: new Dictionary<string, string> { ["TARGET_HOST"] = host, ["PROXY_URL"] = proxyUrl.ToString() },
            extraHosts: new Dictionary<string, string> { [host] = context.Proxy.PublicUrl.DnsSafeHost });
    }
}
