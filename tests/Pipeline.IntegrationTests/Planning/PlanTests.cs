using System.Text.Json;
using Pipeline.IntegrationTests.BadInput;

namespace Pipeline.IntegrationTests.Planning;

/// <summary><c>--target=Plan</c> and <c>Deploy --dryrun</c>: what a deploy would do, from the real state, changing nothing.</summary>
[TestFixture]
[NonParallelizable]
public sealed class PlanTests
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_Plan_The_Next_Deploy_From_The_Live_State_And_Change_Nothing()
    {
        // Given a service live in blue
        var service = TestEnvironment.UniqueName("plan");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        var blue = (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem();
        var before = await _harness.SnapshotAsync(service);
        var options = _harness.OptionsFor(dir, "2.0.0");

        // When the next deploy is planned, as JSON and as a table
        var json = CapturedPipeline.Run(options, "Plan", ["--format=json", "--verbosity=quiet"]);
        var table = CapturedPipeline.Run(options, "Plan", []);

        // Then nothing changed
        json.ExitCode.ShouldBe(0, json.All);
        table.ExitCode.ShouldBe(0, table.All);
        before.Diff(await _harness.SnapshotAsync(service)).ShouldBeEmpty();
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/runs/")).ShouldBeEmpty();

        // And the plan says green replaces blue, with the images, containers, keys and the proxy change
        var plan = JsonDocument.Parse(json.Out).RootElement;
        plan.GetProperty("service").GetString().ShouldBe(service);
        plan.GetProperty("version").GetString().ShouldBe("2.0.0");
        plan.GetProperty("liveColor").GetString().ShouldBe("blue");
        plan.GetProperty("liveVersion").GetString().ShouldBe("1.0.0");
        plan.GetProperty("nextColor").GetString().ShouldBe("green");
        plan.GetProperty("servicePort").GetInt32().ShouldBe(8080);
        Strings(plan, "imagesToBuild").ShouldBe([$"{TestEnvironment.ImageRegistry}/{service}/tests:2.0.0", $"{TestEnvironment.ImageRegistry}/{service}:2.0.0"]);
        Strings(plan, "imagesToPull").ShouldBe([$"{TestEnvironment.ImageRegistry}/{service}:2.0.0 (production engine)"]);
        Names(plan, "create").ShouldContain($"{service}-green-<deploy id>");
        Names(plan, "create").ShouldNotContain(_harness.ProxyContainer);
        Names(plan, "remove").ShouldBe([blue.Name]);
        var keys = plan.GetProperty("keys").EnumerateArray().Select(k => (k.GetProperty("key").GetString(), k.GetProperty("action").GetString())).ToList();
        keys.ShouldContain(($"{_harness.KeyPrefix}/services/{service}/releases/green", "write"));
        keys.ShouldContain(($"{_harness.KeyPrefix}/services/{service}/color", "write"));
        keys.ShouldContain(($"{_harness.KeyPrefix}/services/{service}/releases/blue", "delete"));
        var diff = plan.GetProperty("proxyDiff").GetString()!;
        diff.ShouldStartWith($"--- {_harness.ProxyContainer} (live)\n+++ {_harness.ProxyContainer} (planned)\n@@ ");
        diff.Split('\n').ShouldContain(l => l.StartsWith('-') && l.Contains($"{blue.NetworkAddresses[_harness.Network]}:8080", StringComparison.Ordinal));
        diff.Split('\n').ShouldContain(l => l.StartsWith('+') && l.Contains("<green address>:8080", StringComparison.Ordinal));
        table.All.ShouldContain($"Plan: a deploy of {service} 2.0.0 now would (nothing has been changed):");
        table.All.ShouldContain("  colour    blue (1.0.0) -> green (2.0.0)");
        table.All.ShouldContain($"  remove    container {blue.Name} (production engine)");
        table.All.ShouldContain("  proxy     config (unified diff against the live one):");
    }

    [Test]
    public async Task Should_Print_The_Plan_And_Change_Nothing_On_A_Deploy_Dry_Run()
    {
        // Given a service never deployed (no proxy, no network yet)
        var service = TestEnvironment.UniqueName("dryrun");
        var dir = _harness.CreateService(service);
        var before = await _harness.SnapshotAsync(service);

        // When Deploy is dry-run
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0"), "Deploy", ["--dryrun"]);

        // Then Cake listed the stages, the plan says what would be created, and nothing was
        run.ExitCode.ShouldBe(0, run.All);
        run.All.ShouldContain("PreDeploymentTests");
        run.All.ShouldContain($"Plan: a deploy of {service} 1.0.0 now would (nothing has been changed):");
        run.All.ShouldContain("  colour    none -> blue (1.0.0)");
        run.All.ShouldContain($"  create    network {_harness.Network} (production engine)");
        run.All.ShouldContain($"  create    container {_harness.ProxyContainer} (production engine)");
        run.All.ShouldContain($"--- {_harness.ProxyContainer} (not created yet)");
        before.Diff(await _harness.SnapshotAsync(service)).ShouldBeEmpty();
        (await _harness.Engine.ListNetworksAsync(new Dictionary<string, string>())).ShouldNotContain(n => n.Name == _harness.Network);
        (await _harness.Engine.InspectContainerAsync(_harness.ProxyContainer)).ShouldBeNull();
    }

    private static List<string?> Strings(JsonElement plan, string name) => plan.GetProperty(name).EnumerateArray().Select(e => e.GetString()).ToList();

    private static List<string?> Names(JsonElement plan, string name) => plan.GetProperty(name).EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
}
