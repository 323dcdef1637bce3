using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>
/// Runs the test image with TEST_TYPE=post-integration through the proxy. With <c>--host-name</c> the tests reach the
/// service by that name: <c>TARGET_URL</c> is <c>http://{host name}:{proxy port}{route}</c> and the container's
/// <c>/etc/hosts</c> points the name at the proxy's address; <c>TARGET_HOST</c> is the host name (the Host header to send)
/// and <c>PROXY_URL</c> the proxy's own address, for tests that set the header themselves. When the proxy terminates TLS
/// the URLs are <c>https://</c>, <c>TARGET_CA</c> holds the certificate to trust (PEM) and <c>TARGET_HTTP_URL</c> the same
/// route over plain HTTP (for a test client without modern TLS).
/// </summary>
[TaskName("PostIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=post-integration, TARGET_URL = the proxy (by --host-name when given; https:// with TARGET_CA when it terminates TLS).")]
[IsDependentOn(typeof(SwitchProxy))]
public sealed class PostIntegrationTests : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        // The proxy publishes on the host (127.0.0.1 by default): the test container shares the host's network. With
        // HTTPS the tests go through it, and get the certificate to trust (TARGET_CA, PEM).
        var proxy = context.Proxy;
        var environment = new Dictionary<string, string>();
        var baseUrl = proxy.PublicUrl;
        if (proxy.PublicHttpsUrl is { } https && await proxy.CertificateAuthorityAsync(ct) is { } ca)
        {
            baseUrl = https;
            environment[TargetCaVariable] = ca;
        }

        var proxyUrl = new Uri(baseUrl, context.Options.Route);
        var httpUrl = new Uri(proxy.PublicUrl, context.Options.Route);
        if (environment.ContainsKey(TargetCaVariable))
        {
            // For test clients that cannot speak TLS as the proxy does (busybox wget offers no SHA-256 signatures).
            environment[TargetHttpUrlVariable] = context.Options.HostName is { } name ? new UriBuilder(httpUrl) { Host = name }.Uri.ToString() : httpUrl.ToString();
        }

        // Meanwhile, watch the old colour drain: RetireOldRelease then waits only for what is still in flight to it.
        context.State.OldColorDrain = DrainWatch.Start(context, ct);
        await RunTestsAsync(context, proxyUrl, baseUrl, environment, ct);
    }

    private static async Task RunTestsAsync(DeploymentContext context, Uri proxyUrl, Uri baseUrl, Dictionary<string, string> environment, CancellationToken ct)
    {
        if (context.Options.HostName is not { } host)
        {
            await TestStage.RunAsync(context, TestType.PostIntegration, proxyUrl.ToString(), network: "host", ct, environment);
            return;
        }

        environment["TARGET_HOST"] = host;
        environment["PROXY_URL"] = proxyUrl.ToString();
        var byName = new UriBuilder(proxyUrl) { Host = host }.Uri.ToString();
        await TestStage.RunAsync(
            context,
            TestType.PostIntegration,
            byName,
            network: "host",
            ct,
            environment,
            extraHosts: new Dictionary<string, string> { [host] = baseUrl.DnsSafeHost });
    }

    /// <summary>The variable that carries the CA certificate (PEM) post-integration tests trust for an <c>https://</c> TARGET_URL.</summary>
    public const string TargetCaVariable = "TARGET_CA";

    /// <summary>With an <c>https://</c> TARGET_URL: the same route through the proxy's plain HTTP port.</summary>
    public const string TargetHttpUrlVariable = "TARGET_HTTP_URL";
}
