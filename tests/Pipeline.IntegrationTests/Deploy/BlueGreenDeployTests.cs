using System.Net;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Deploy;

[TestFixture("haproxy")]
[TestFixture("nginx")]
[NonParallelizable]
public sealed class BlueGreenDeployTests(string proxyKind)
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness(proxyKind);

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_Alternate_Colours_And_Keep_Only_The_Live_One_When_Deployed_Three_Times()
    {
        // Given a service that was never deployed
        var service = TestEnvironment.UniqueName("bg");
        var dir = _harness.CreateService(service);

        foreach (var (version, color) in new[] { ("1.0.0", "blue"), ("1.1.0", "green"), ("1.2.0", "blue") })
        {
            // When it is deployed
            PipelineHarness.Run(_harness.OptionsFor(dir, version)).ShouldBe(0, $"deploy of {version}");

            // Then the registry, the proxy and the engine all say the new colour, and only it runs
            (await _harness.Catalog.GetLiveColorAsync(service)).ShouldBe(color);
            var (status, served, body) = await _harness.GetThroughProxyAsync();
            status.ShouldBe(HttpStatusCode.OK);
            served.ShouldBe(color);
            body.Trim().ShouldBe($"hello from {service} {version} ({color})");
            var releases = await _harness.ReleasesAsync(service);
            releases.ShouldHaveSingleItem().Labels[Labels.Color].ShouldBe(color);
            releases[0].Labels[Labels.Version].ShouldBe(version);
            (await _harness.Catalog.GetReleaseAsync(service, color)).ShouldNotBeNull().Version.ShouldBe(version);
            (await _harness.Catalog.GetReleaseAsync(service, color == "blue" ? "green" : "blue")).ShouldBeNull();
        }

        (await _harness.Catalog.GetHistoryAsync(service, 10)).Select(h => h.Color).ShouldBe(["blue", "green", "blue"]);
    }

    [Test]
    public async Task Should_Ask_Health_From_One_Long_Lived_Probe_Of_The_Network_Started_By_The_First_Deploy()
    {
        // Given a service that was never deployed, on a network with no probe
        var service = TestEnvironment.UniqueName("probe");
        var dir = _harness.CreateService(service);
        (await NetworkProbesAsync()).ShouldBeEmpty();

        // When it is deployed twice
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        var first = (await NetworkProbesAsync()).ShouldHaveSingleItem();
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.1.0")).ShouldBe(0);

        // Then one probe, started beside the first release and labelled with the network and that deploy, served both
        var history = await _harness.Catalog.GetHistoryAsync(service, 10);
        var probe = (await NetworkProbesAsync()).ShouldHaveSingleItem();
        probe.Id.ShouldBe(first.Id);
        probe.IsRunning.ShouldBeTrue();
        probe.Labels[Labels.DeployId].ShouldBe(history.Single(h => h.Version == "1.0.0").DeployId);
        probe.Labels.ShouldNotContainKey(Labels.Service);
        probe.Name.ShouldStartWith($"{_harness.Network}-probe-");
        (await _harness.Engine.InspectContainerAsync(probe.Id)).ShouldNotBeNull().RestartPolicy.ShouldBe("unless-stopped");
    }

    [Test]
    public async Task Should_Remove_Everything_It_Started_When_The_First_Deploy_Fails_After_The_Switch()
    {
        // Given no proxy, network or keys yet
        var service = TestEnvironment.UniqueName("first");
        var before = await _harness.SnapshotAsync(service);

        // When the very first deploy fails in post-integration tests
        PipelineHarness.Run(_harness.OptionsFor(_harness.CreateService(service, TestType.PostIntegration.ToContractName()), "1.0.0")).ShouldNotBe(0);

        // Then the proxy container, the network, the release and the keys are gone again
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
        (await _harness.Proxy.FindContainerAsync()).ShouldBeNull();
        (await NetworkProbesAsync()).ShouldBeEmpty();
    }

    /// <summary>The long-lived probes on the harness's network.</summary>
    private async Task<IReadOnlyList<Pipeline.Docker.ContainerInfo>> NetworkProbesAsync() =>
        await _harness.Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Role] = Roles.Probe, [Labels.Network] = _harness.Network });
}
