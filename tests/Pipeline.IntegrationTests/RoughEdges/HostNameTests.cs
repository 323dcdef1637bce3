using Pipeline.IntegrationTests.BadInput;

namespace Pipeline.IntegrationTests.RoughEdges;

/// <summary>With <c>--host-name</c>, post-integration tests reach the service by that name through the proxy.</summary>
[TestFixture]
[NonParallelizable]
public sealed class HostNameTests
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public void Should_Give_Post_Integration_Tests_A_Target_Url_With_The_Host_Name()
    {
        // Given a service routed by host name whose tests print what they get
        var service = TestEnvironment.UniqueName("byhost");
        var dir = _harness.CreateService(service);
        ExampleService.RunFirstInTests(dir, "echo \"target=${TARGET_URL:-} host=${TARGET_HOST:-} proxy=${PROXY_URL:-}\"");

        // When it is deployed with --host-name (the route matches only that Host)
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0") with { HostName = $"{service}.example.test" }, "Deploy", []);

        // Then the post-integration tests reached it by name through the proxy (its answers carry the proxy's colour)
        run.ExitCode.ShouldBe(0, run.All);
        run.All.ShouldContain($"[post-integration] target=http://{service}.example.test:{_harness.ProxyPort}/ host={service}.example.test proxy={_harness.ProxyUrl}");
        run.All.ShouldContain($"[post-integration] through the proxy: http://{service}.example.test:{_harness.ProxyPort}/ serves blue");
    }
}
