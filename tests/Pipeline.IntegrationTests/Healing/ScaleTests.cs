using Pipeline.Configuration;
using Pipeline.Forecasting;
using Pipeline.History;
using Pipeline.Proxy;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Healing;

/// <summary><c>--target=Scale</c> on the containers runtime: a small deploy against the real engine, etcd and HAProxy.</summary>
[NonParallelizable]
public sealed class ScaleTests
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_Scale_The_Live_Release_Out_And_In_While_The_Proxy_Keeps_Answering()
    {
        // Given a live release with one replica, under steady load through the proxy
        var (service, options) = await DeployAsync("scale");
        var first = (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem();
        var load = ProxyLoad.Start(_harness.ProxyUrl);
        try
        {
            // When it is scaled out to three
            PipelineHarness.Run(options with { Replicas = 3 }, "Scale").ShouldBe(0);

            // Then three replicas run, all registered and routed to
            await ServingAsync(service, 3);

            // When it is scaled back in to one
            PipelineHarness.Run(options with { Replicas = 1 }, "Scale").ShouldBe(0);

            // Then only the first replica is left, registered and routed to
            (await ServingAsync(service, 1)).ShouldHaveSingleItem().ShouldBe(first.Id);
            var answered = load.Answered;
            for (var i = 0; i < 50 && load.Answered < answered + 10; i++)
            {
                await Task.Delay(100);
            }
        }
        finally
        {
            await load.DisposeAsync();
        }

        // And no request through the proxy failed; both changes are in the history
        load.Failures.ShouldBeEmpty();
        load.Answered.ShouldBeGreaterThan(0);
        var scales = (await new ServiceHistory(_harness.Catalog).ReadAsync(service, 10)).Where(r => r.Kind == HistoryKinds.Scale).ToList();
        scales.Select(s => s.Outcome).ShouldBe([HistoryOutcomes.Scaled, HistoryOutcomes.Scaled]);
        scales[1].Summary.ShouldNotBeNull().ShouldContain("out from 1 to 3");
        scales[0].Summary.ShouldNotBeNull().ShouldContain("in from 3 to 1");
    }

    [TestCase(4, "above --max-replicas=3")]
    [TestCase(1, "below --min-replicas=2")]
    [TestCase(0, "")]
    public async Task Should_Refuse_A_Number_Of_Replicas_Out_Of_Bounds_And_Change_Nothing(int replicas, string _)
    {
        // Given a live release
        var (service, options) = await DeployAsync("bounds");
        var before = await _harness.SnapshotAsync(service);

        // When it is asked to scale outside --min-replicas..--max-replicas (or below 1)
        var exit = PipelineHarness.Run(options with { Replicas = replicas, Scaling = new ScalingOptions { MinReplicas = 2, MaxReplicas = 3 } }, "Scale");

        // Then the run fails and nothing changed
        exit.ShouldNotBe(0);
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Fail_Clearly_And_Change_Nothing_When_Prometheus_Does_Not_Answer()
    {
        // Given a live release and a Prometheus URL on a closed loopback port
        var (service, options) = await DeployAsync("noprom");
        var before = await _harness.SnapshotAsync(service);

        // When it is scaled on the forecast
        var exit = PipelineHarness.Run(options with { PrometheusUrl = new Uri($"http://127.0.0.1:{TestEnvironment.FreePort()}") }, "Scale");

        // Then the run fails and nothing changed
        exit.ShouldNotBe(0);
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
    }

    private async Task<(string Service, DeploymentOptions Options)> DeployAsync(string name)
    {
        var service = TestEnvironment.UniqueName(name);
        var options = _harness.OptionsFor(_harness.CreateService(service), "1.0.0") with { Replicas = 1 };
        PipelineHarness.Run(options).ShouldBe(0);
        return (service, options with { Replicas = null });
    }

    /// <summary>Checks that <paramref name="count"/> replicas run, are registered and routed to; returns their container ids.</summary>
    private async Task<IReadOnlyList<string>> ServingAsync(string service, int count)
    {
        var running = (await _harness.ReleasesAsync(service)).Where(c => c.IsRunning).ToList();
        running.Count.ShouldBe(count);
        var record = (await _harness.Catalog.GetReleaseAsync(service, "blue")).ShouldNotBeNull();
        record.DesiredReplicas.ShouldBe(count);
        var addresses = running.Select(c => c.NetworkAddresses[_harness.Network]).Order().ToList();
        record.AllEndpoints.Select(e => e.Address).Order().ShouldBe(addresses);
        var config = (await _harness.Proxy.ReadLiveConfigAsync()).ShouldNotBeNull();
        ProxyConfigAddresses.Upstreams(config).Order().ShouldBe(addresses);
        return running.Select(c => c.Id).ToList();
    }
}
