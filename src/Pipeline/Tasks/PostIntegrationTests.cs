using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>Runs the test image with TEST_TYPE=post-integration through the proxy.</summary>
[TaskName("PostIntegrationTests")]
[TaskDescription("Runs the test image with TEST_TYPE=post-integration, TARGET_URL = the proxy (https:// with TARGET_CA when it terminates TLS).")]
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

        var targetUrl = new Uri(baseUrl, context.Options.Route).ToString();
        await TestStage.RunAsync(context, TestType.PostIntegration, targetUrl, network: "host", ct, environment);
    }

    /// <summary>The variable that carries the CA certificate (PEM) post-integration tests trust for an <c>https://</c> TARGET_URL.</summary>
    public const string TargetCaVariable = "TARGET_CA";
}
