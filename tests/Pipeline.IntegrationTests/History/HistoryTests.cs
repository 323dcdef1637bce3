using System.Text.Json;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.History;

/// <summary><c>--target=History</c> and a redeploy of an earlier version from the image registry (<c>--from-registry</c>).</summary>
[TestFixture]
[NonParallelizable]
public sealed class HistoryTests
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_List_Deploys_And_Rollbacks_Then_Redeploy_The_Version_Before_Last_From_The_Registry()
    {
        // Given 1.0.0 then 2.0.0 deployed, and a 3.0.0 whose post-integration tests failed (rolled back)
        var service = TestEnvironment.UniqueName("hist");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        PipelineHarness.Run(_harness.OptionsFor(dir, "2.0.0")).ShouldBe(0);
        var failing = _harness.CreateService(service + "-next", TestType.PostIntegration.ToContractName());
        PipelineHarness.Run(_harness.OptionsFor(failing, "3.0.0", service: service)).ShouldNotBe(0);

        // When the history is asked for, as JSON and as a table
        var json = CapturedPipeline.Run(_harness.OptionsFor(dir, "0.0.0"), "History", ["--format=json", "--verbosity=quiet"]);
        var table = CapturedPipeline.Run(_harness.OptionsFor(dir, "0.0.0"), "History", []);

        // Then it lists, newest first, the rollback of 3.0.0 and the two deploys, with colours, outcomes and stage times
        json.ExitCode.ShouldBe(0, json.All);
        var entries = JsonDocument.Parse(json.Out).RootElement.EnumerateArray().ToList();
        entries.Select(e => (Kind(e), Text(e, "version"), Text(e, "color"), Text(e, "previousColor"), Text(e, "outcome"))).ShouldBe(
        [
            ("rollback", "3.0.0", "blue", "green", "rolled-back"),
            ("deploy", "2.0.0", "green", "blue", "succeeded"),
            ("deploy", "1.0.0", "blue", null, "succeeded"),
        ]);
        Text(entries[0], "stage").ShouldBe("PostIntegrationTests");
        Text(entries[0], "summary")!.ShouldContain($"removed release {service}-blue-");
        entries[1].GetProperty("stageSeconds").EnumerateObject().Select(p => p.Name).ShouldContain("BuildImage");
        entries[0].GetProperty("stageSeconds").EnumerateObject().Select(p => p.Name).ShouldContain("SwitchProxy");
        table.All.ShouldContain($"History of {service} (3 entries, newest first):");
        table.All.ShouldContain($"      failed in PostIntegrationTests: post-integration tests for {service} 3.0.0 (blue) exited with 7");
        table.All.ShouldContain("      Rolled back: ");
        table.All.ShouldContain("      stages: PreDeploymentTests ");

        // When 1.0.0 is redeployed from the image registry
        var redeploy = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0") with { FromRegistry = true }, "Deploy", []);

        // Then it ran every test but built and pushed nothing, and 1.0.0 is live again
        redeploy.ExitCode.ShouldBe(0, redeploy.All);
        redeploy.All.ShouldContain("[pre-deployment] PASS: pre-deployment");
        redeploy.All.ShouldContain("[pre-integration] PASS: pre-integration");
        redeploy.All.ShouldContain("[post-integration] PASS: post-integration");
        redeploy.All.ShouldContain("[pull tests] ");
        redeploy.All.ShouldNotContain("[build] ");
        redeploy.All.ShouldNotContain("[build tests] ");
        System.Text.RegularExpressions.Regex.IsMatch(redeploy.All, @"PushImage\s+-\s+Skipped").ShouldBeTrue(redeploy.All);
        redeploy.All.ShouldNotContain($"Pushed {TestEnvironment.ImageRegistry}/{service}:1.0.0");
        (await _harness.Catalog.GetLiveColorAsync(service)).ShouldBe("blue");
        (await _harness.Catalog.GetReleaseAsync(service, "blue"))!.Version.ShouldBe("1.0.0");
        (await _harness.Catalog.GetReleaseAsync(service, "blue"))!.Digest.ShouldNotBeNullOrEmpty();
        var (_, color, body) = await _harness.GetThroughProxyAsync();
        color.ShouldBe("blue");
        body.ShouldContain("1.0.0");
    }

    [Test]
    public async Task Should_Fail_At_Once_Listing_The_Versions_When_The_Registry_Lacks_The_One_To_Redeploy()
    {
        // Given a service deployed as 1.0.0 and 2.0.0
        var service = TestEnvironment.UniqueName("histmiss");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        PipelineHarness.Run(_harness.OptionsFor(dir, "2.0.0")).ShouldBe(0);
        var before = await _harness.SnapshotAsync(service);

        // When 9.9.9 is redeployed from the registry
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "9.9.9") with { FromRegistry = true }, "Deploy", []);

        // Then it failed in Preflight, listing the versions the registry holds, and changed nothing
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain($"--release-version=9.9.9 --from-registry: the image registry {TestEnvironment.ImageRegistry} does not hold both {TestEnvironment.ImageRegistry}/{service}:9.9.9 and {TestEnvironment.ImageRegistry}/{service}/tests:9.9.9. Versions it holds: 1.0.0, 2.0.0.");
        run.All.ShouldNotContain("PreDeploymentTests failed");
        before.Diff(await _harness.SnapshotAsync(service)).ShouldBeEmpty();
    }

    private static string Kind(JsonElement e) => e.GetProperty("kind").GetString()!;

    private static string? Text(JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null ? null : e.GetProperty(name).GetString();
}
