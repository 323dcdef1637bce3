using Pipeline.IntegrationTests.BadInput;

namespace Pipeline.IntegrationTests.RoughEdges;

/// <summary>Without <c>--service-port</c>, the port the service image EXPOSEs; several fail at once; a wrong one is named.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ServicePortTests
{
    private PipelineHarness _harness = null!;
    private string _root = null!;

    [SetUp]
    public void CreateHarness()
    {
        _harness = new PipelineHarness("haproxy");
        _root = Directory.CreateTempSubdirectory("pipeline-ports-").FullName;
    }

    [TearDown]
    public void RemoveHarness()
    {
        _harness.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Test]
    public async Task Should_Deploy_A_Third_Party_Image_On_The_One_Port_It_Exposes()
    {
        // Given an image that listens on port 80 and EXPOSEs it, and no --service-port
        var service = TestEnvironment.UniqueName("web80");
        var dir = ThirdPartyService.Create(Path.Combine(_root, service), listens: 80, exposes: 80);

        // When it is deployed
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0"), "Deploy", []);

        // Then the release was probed, registered and routed on port 80, and answers through the proxy
        run.ExitCode.ShouldBe(0, run.All);
        run.All.ShouldContain($"{TestEnvironment.ImageRegistry}/{service}:1.0.0 exposes port 80: the release listens there (--service-port overrides).");
        (await _harness.Catalog.GetReleaseAsync(service, "blue"))!.Port.ShouldBe(80);
        var (_, color, body) = await _harness.GetThroughProxyAsync();
        color.ShouldBe("blue");
        body.ShouldContain("third party");
    }

    [Test]
    public async Task Should_Fail_At_Once_Naming_The_Ports_When_The_Image_Exposes_Several()
    {
        // Given an image exposing 80 and 443
        var service = TestEnvironment.UniqueName("web2");
        var dir = ThirdPartyService.Create(Path.Combine(_root, service), listens: 80, exposes: [80, 443]);

        // When it is deployed without --service-port
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0"), "Deploy", []);

        // Then BuildImage failed naming both ports, before anything ran in production
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain($"BuildImage failed: {TestEnvironment.ImageRegistry}/{service}:1.0.0 exposes ports 80, 443: say which one the service answers HTTP on with --service-port=PORT (e.g. --service-port=80).");
        (await _harness.ReleasesAsync(service)).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Say_The_Release_Listens_On_Another_Port_Than_The_One_Probed()
    {
        // Given an image that EXPOSEs 8080 but listens on 80
        var service = TestEnvironment.UniqueName("webwrong");
        var dir = ThirdPartyService.Create(Path.Combine(_root, service), listens: 80, exposes: 8080);

        // When it is deployed with a short health timeout
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0") with { HealthTimeout = TimeSpan.FromSeconds(4) }, "Deploy", []);

        // Then the failure says where it listens and what to set; the release was rolled back
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain("It listens on port 80, not on 8080: set --service-port=80 (or make the service listen on $PORT).");
        (await _harness.ReleasesAsync(service)).ShouldBeEmpty();
    }
}
