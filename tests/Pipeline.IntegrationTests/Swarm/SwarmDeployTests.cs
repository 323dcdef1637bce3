using System.Net;
using System.Text.Json;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.IntegrationTests.Faults;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// Blue-green onto the 3-node test swarm with two engines for real: builds, pre-deployment tests and pushes on this
/// machine's dockerd, releases, probes, pre-integration tests and the proxy on the swarm, reached through the manager over
/// verified mutual TLS. Health and pre-integration tests run on the overlay (this machine has no route to it); the proxy
/// publishes on the manager's address.
/// </summary>
[NonParallelizable]
[Order(3)]
public sealed class SwarmDeployTests
{
    [Test]
    public async Task Should_Deploy_Twice_Over_Tls_Alternating_Colours_With_Replicas_Spread_Over_Two_Nodes()
    {
        // Given a service never deployed, and the swarm behind its manager's TLS endpoint (orchestrator: auto)
        var harness = TestSwarm.Own(SwarmHarness.Create());
        var service = TestEnvironment.UniqueName("swdeploy");
        var dir = harness.CreateService(service);

        foreach (var (version, color) in new[] { ("1.0.0", "blue"), ("1.1.0", "green") })
        {
            // When it is deployed
            var run = PipelineHarness.RunInProcess(SwarmHarness.For(harness, dir, version));

            // Then it ran as a swarm service of two replicas on two nodes, registered with both endpoints, and the proxy
            // on the manager answers from the new colour
            run.ExitCode.ShouldBe(0, $"deploy of {version}");
            var releases = await harness.Runtime.ListAsync(service);
            var release = releases.ShouldHaveSingleItem();
            (release.Id.Color, release.Version).ShouldBe((color, version));
            var record = (await harness.Catalog.GetReleaseAsync(service, color)).ShouldNotBeNull();
            record.AllEndpoints.Count.ShouldBe(2);
            record.AllEndpoints.Select(e => e.Node).Distinct().Count().ShouldBe(2, string.Join(", ", record.AllEndpoints));
            record.Digest.ShouldNotBeNull();
            var (status, served, body) = await harness.GetThroughProxyAsync();
            (status, served, body.Trim()).ShouldBe((HttpStatusCode.OK, color, $"hello from {service} {version} ({color})"));
        }

        // And the snapshot and the status show the service, its tasks on their nodes, and the nodes
        var snapshot = await harness.SnapshotAsync(service);
        snapshot.Services.Count(s => s.Contains(" task ", StringComparison.Ordinal)).ShouldBe(2);
        snapshot.Services.ShouldContain(s => s.Contains("color=green version=1.1.0", StringComparison.Ordinal) && s.Contains("@sha256:", StringComparison.Ordinal));
        snapshot.Nodes.Count.ShouldBe(TestSwarm.Options.Nodes);
        var status1 = CapturedPipeline.Run(SwarmHarness.For(harness, dir, "1.1.0"), "Status", ["--format=json", "--verbosity=quiet"]);
        status1.ExitCode.ShouldBe(0, status1.All);
        using var json = JsonDocument.Parse(status1.Out);
        json.RootElement.GetProperty("orchestrator").GetString().ShouldBe("swarm");
        json.RootElement.GetProperty("endpoints").GetArrayLength().ShouldBe(2);
        json.RootElement.GetProperty("nodes").GetArrayLength().ShouldBe(TestSwarm.Options.Nodes);
    }

    [Test]
    public async Task Should_Run_The_Pre_Integration_Tests_From_An_Address_Every_Task_Of_The_New_Release_Answered()
    {
        // Given a service whose pre-integration tests print the overlay addresses they run from (other nodes learn a new
        // container's address only after a moment, so a test container of its own could miss a task its probe reached)
        var harness = TestSwarm.Own(SwarmHarness.Create());
        var service = TestEnvironment.UniqueName("swfrom");
        var dir = harness.CreateService(service);
        ExampleService.RunFirstInTests(dir, $"[ \"$TEST_TYPE\" = pre-integration ] && echo \"running from: {ExampleService.Addresses}\"");

        // When it is deployed
        var run = FaultRun.Execute(SwarmHarness.For(harness, dir, "1.0.0"));

        // Then the tests ran at the address of the probe that both tasks of the release answered, each at its own address
        run.ExitCode.ShouldBe(0, run.Error);
        var record = (await harness.Catalog.GetReleaseAsync(service, "blue")).ShouldNotBeNull();
        record.AllEndpoints.Count.ShouldBe(2);
        var from = run.Log.Where(l => l.StartsWith("[pre-integration] running from: ", StringComparison.Ordinal)).ShouldHaveSingleItem();
        var reached = run.Log.Where(l => l.StartsWith("(the tests run in the network stack of ", StringComparison.Ordinal))
            .ShouldHaveSingleItem($"the run does not say that the tests ran from a probe every task answered; they ran {from["[pre-integration] ".Length..]}");
        foreach (var endpoint in record.AllEndpoints)
        {
            reached.ShouldContain($"{endpoint.Address} on {endpoint.Node}", Case.Sensitive);
        }

        var probeAddress = reached.Split(" at ", 2)[1].Split(',', 2)[0];
        from["[pre-integration] running from: ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ShouldContain(probeAddress, reached);
    }
}
