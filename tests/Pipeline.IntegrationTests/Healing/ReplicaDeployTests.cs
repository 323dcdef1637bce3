using System.Net;
using Pipeline.Proxy;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Healing;

/// <summary><c>--replicas=N</c> on one engine: N containers of the colour, each registered, each an upstream of the route; all removed together.</summary>
[TestFixture("haproxy")]
[TestFixture("nginx")]
[NonParallelizable]
public sealed class ReplicaDeployTests(string proxyKind)
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness(proxyKind);

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_Register_And_Route_To_Every_Replica_And_Retire_Them_All_When_Deployed_With_Two_Replicas()
    {
        // Given a service deployed with two replicas
        var service = TestEnvironment.UniqueName("rep");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0") with { Replicas = 2 }).ShouldBe(0);

        // Then two containers of blue run, both are in the registry record and both are upstreams of the proxy
        var blue = await RunningReplicasAsync(service, "blue", 2);

        // When the next version is deployed with two replicas
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.1.0") with { Replicas = 2 }).ShouldBe(0);

        // Then both green replicas serve and neither blue replica is left
        var green = await RunningReplicasAsync(service, "green", 2);
        green.Intersect(blue).ShouldBeEmpty();
        (await _harness.ReleasesAsync(service)).ShouldAllBe(c => c.Labels[Labels.Color] == "green");
        var (status, color, body) = await _harness.GetThroughProxyAsync();
        status.ShouldBe(HttpStatusCode.OK);
        color.ShouldBe("green");
        body.ShouldContain("1.1.0");
    }

    [Test]
    public async Task Should_Remove_Every_New_Replica_When_A_Deploy_With_Two_Replicas_Is_Rolled_Back()
    {
        // Given a live release with two replicas
        var service = TestEnvironment.UniqueName("reprb");
        PipelineHarness.Run(_harness.OptionsFor(_harness.CreateService(service), "1.0.0") with { Replicas = 2 }).ShouldBe(0);
        var before = await _harness.SnapshotAsync(service);

        // When a deploy of two replicas fails its post-integration tests (after the switch)
        var failing = _harness.CreateService(service + "-fail", TestType.PostIntegration.ToContractName());
        PipelineHarness.Run(_harness.OptionsFor(failing, "2.0.0", service: service) with { Replicas = 2 }).ShouldNotBe(0);

        // Then production is exactly as before: both new replicas are gone, the old two serve
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
        await RunningReplicasAsync(service, "blue", 2);
    }

    /// <summary>Checks that <paramref name="count"/> replicas of <paramref name="color"/> run, are registered and are routed to; returns their addresses.</summary>
    private async Task<IReadOnlyList<string>> RunningReplicasAsync(string service, string color, int count)
    {
        var containers = (await _harness.ReleasesAsync(service)).Where(c => c.Labels[Labels.Color] == color).ToList();
        containers.Count.ShouldBe(count);
        containers.ShouldAllBe(c => c.IsRunning);
        var addresses = containers.Select(c => c.NetworkAddresses[_harness.Network]).Order().ToList();

        var record = (await _harness.Catalog.GetReleaseAsync(service, color)).ShouldNotBeNull();
        record.AllEndpoints.Select(e => e.Address).Order().ShouldBe(addresses);

        var config = (await _harness.Proxy.ReadLiveConfigAsync()).ShouldNotBeNull();
        foreach (var address in addresses)
        {
            ProxyConfigAddresses.RoutesTo(config, [address]).ShouldBeTrue($"the proxy config routes to {address}");
        }

        return addresses;
    }
}
