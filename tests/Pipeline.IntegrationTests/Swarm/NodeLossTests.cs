using System.Diagnostics;
using System.Net;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Faults;
using Pipeline.Provisioning.Swarm;
using Pipeline.Runtime;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// Node loss and drain on the test swarm with load going through the proxy on the manager: a worker lost (SIGKILL to its
/// dockerd and everything it runs) in steady state and in the middle of a deploy, and a worker drained. Each reports the
/// requests sent and failed and how long the swarm took to run every replica again; the killed node is brought back after.
/// </summary>
/// <remarks>
/// Runs last, the drain first: a node whose dockerd was killed and started again rejoins the overlays, but for a while
/// (seconds to minutes here) containers on other nodes may not reach its new tasks, which would fail unrelated tests.
/// </remarks>
[NonParallelizable]
[Order(5)]
public sealed class NodeLossTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [TearDown]
    public async Task BringEveryNodeBack()
    {
        await TestSwarm.HealAsync();
        using var manager = new DockerEngine(TestSwarm.Manager);
        foreach (var node in await manager.ListNodesAsync())
        {
            if (node.Availability != SwarmNodeAvailability.Active)
            {
                await manager.SetNodeAvailabilityAsync(node.Id, SwarmNodeAvailability.Active);
            }
        }
    }

    [Test]
    [Order(3)]
    public async Task Should_Keep_Answering_From_The_Live_Colour_When_A_Worker_Running_One_Of_Its_Tasks_Is_Lost()
    {
        // Given a service live in blue (two tasks, one on a worker), and load through the proxy
        var live = await SwarmLiveService.DeployAsync("swloss");
        var (release, worker) = await LiveReleaseAndAWorkerRunningItAsync(live);
        await using var load = ProxyLoad.Start(live.Harness.ProxyUrl, clients: 4);
        await Task.Delay(TimeSpan.FromSeconds(2));

        // When that worker is lost
        var killedAt = load.Seconds;
        await LocalSwarm.ForThisMachine(new DockerEngine(TestEnvironment.Docker), TestContext.Progress.WriteLine).KillNodeAsync(TestSwarm.Options, worker.Number);
        var recovered = await ReplicasRunningAsync(live.Harness.Runtime, release, 2, worker.HostName);
        var recoveredAt = load.Seconds;
        await Task.Delay(TimeSpan.FromSeconds(3));
        var (sent, failures, colors) = await load.StopAsync();

        // Then Swarm ran the lost task on a live node, and every request through the proxy was answered by blue
        TestContext.Progress.WriteLine(
            $"node loss in steady state: {sent} requests, {failures.Count} failed; all replicas running again {recoveredAt - killedAt:0.0} s after the kill. Failures: {string.Join("; ", failures.Take(10))}");
        recovered.Count.ShouldBe(2);
        recovered.ShouldAllBe(e => e.Node != worker.HostName);
        sent.ShouldBeGreaterThan(0);
        failures.ShouldBeEmpty();
        colors.Keys.ShouldBe(["blue"]);
    }

    [Test]
    [Order(2)]
    public async Task Should_Either_Complete_With_Every_Replica_Healthy_Or_Roll_Back_When_A_Worker_Is_Lost_Mid_Deploy()
    {
        // Given a service live in blue kept off the last worker, which is then the least busy node (where a new release's
        // tasks go first)
        var idle = TestSwarm.Options.Node(TestSwarm.Options.Nodes);
        var live = await SwarmLiveService.DeployAsync("swmid", o => o with { PlacementConstraints = [$"node.hostname!={idle.HostName}"] });
        var before = await live.SnapshotAsync();
        await using var load = ProxyLoad.Start(live.Harness.ProxyUrl, clients: 4);
        var swarm = LocalSwarm.ForThisMachine(new DockerEngine(TestEnvironment.Docker), TestContext.Progress.WriteLine);

        // When the next version is deployed and that worker is lost as soon as the new service exists
        var version = SwarmLiveService.NextVersion();
        var killed = false;
        var watch = Stopwatch.StartNew();
        var run = FaultRun.Execute(live.For(live.NextDirectory(version), version), onLine: line =>
        {
            if (!killed && line.Contains("  [pull] Created service ", StringComparison.Ordinal))
            {
                killed = true;
                swarm.KillNodeAsync(TestSwarm.Options, idle.Number).GetAwaiter().GetResult();
            }
        });
        var deploySeconds = watch.Elapsed.TotalSeconds;
        var (sent, failures, colors) = await load.StopAsync();

        // Then the deploy either completed with every replica of green healthy, or rolled back to what was there before
        killed.ShouldBeTrue();
        TestContext.Progress.WriteLine(
            $"node loss mid-deploy: {(run.ExitCode == 0 ? "completed" : "rolled back")} in {deploySeconds:0.0} s; {sent} requests, {failures.Count} failed ({string.Join(", ", colors.Select(c => $"{c.Value} from {c.Key}"))}). {run.Error}");
        failures.ShouldBeEmpty();
        if (run.ExitCode == 0)
        {
            var green = (await live.Harness.Catalog.GetReleaseAsync(live.Service, "green")).ShouldNotBeNull();
            green.AllEndpoints.Count.ShouldBe(2);
            green.AllEndpoints.ShouldAllBe(e => e.Node != idle.HostName);
            var (status, served, _) = await live.Harness.GetThroughProxyAsync();
            (status, served).ShouldBe((HttpStatusCode.OK, "green"));
        }
        else
        {
            run.Error.ShouldNotBeNull().ShouldContain($"\nRolled back: ", Case.Sensitive);
            await TestSwarm.HealAsync();
            before.Diff(await live.SnapshotAsync()).ShouldBeEmpty();
        }
    }

    [Test]
    [Order(1)]
    public async Task Should_Move_The_Tasks_Of_A_Drained_Node_Without_A_Failed_Request()
    {
        // Given a service live in blue (a task on a worker), and load through the proxy
        var live = await SwarmLiveService.DeployAsync("swdrain");
        var (release, worker) = await LiveReleaseAndAWorkerRunningItAsync(live);
        using var manager = new DockerEngine(TestSwarm.Manager);
        await using var load = ProxyLoad.Start(live.Harness.ProxyUrl, clients: 4);
        await Task.Delay(TimeSpan.FromSeconds(2));

        // When the worker is drained
        var drainedAt = load.Seconds;
        await manager.SetNodeAvailabilityAsync(worker.HostName, SwarmNodeAvailability.Drain);
        var moved = await ReplicasRunningAsync(live.Harness.Runtime, release, 2, worker.HostName);
        var movedAt = load.Seconds;
        await Task.Delay(TimeSpan.FromSeconds(3));
        var (sent, failures, colors) = await load.StopAsync();

        // Then the task moved to another node and no request through the proxy failed
        TestContext.Progress.WriteLine(
            $"drain: {sent} requests, {failures.Count} failed; all replicas running off the drained node {movedAt - drainedAt:0.0} s after the drain. Failures: {string.Join("; ", failures.Take(10))}");
        moved.ShouldAllBe(e => e.Node != worker.HostName);
        failures.ShouldBeEmpty();
        colors.Keys.ShouldBe(["blue"]);
    }

    /// <summary>The live (blue) release and a worker that runs one of its tasks.</summary>
    private static async Task<(ReleaseId Release, LocalSwarmNode Worker)> LiveReleaseAndAWorkerRunningItAsync(SwarmLiveService live)
    {
        var record = (await live.Harness.Catalog.GetReleaseAsync(live.Service, "blue")).ShouldNotBeNull();
        var worker = TestSwarm.Options.AllNodes.Skip(1).First(n => record.AllEndpoints.Any(e => e.Node == n.HostName));
        return (new ReleaseId(live.Service, "blue", record.DeployId), worker);
    }

    /// <summary>Waits until <paramref name="replicas"/> tasks of the release run, none on <paramref name="notOn"/>.</summary>
    private static async Task<IReadOnlyList<ReleaseEndpoint>> ReplicasRunningAsync(IReleaseRuntime runtime, ReleaseId release, int replicas, string notOn)
    {
        var watch = Stopwatch.StartNew();
        IReadOnlyList<ReleaseEndpoint> running = [];
        while (watch.Elapsed < Patience)
        {
            running = (await runtime.AddressesAsync(release, 8080))?.Endpoints ?? [];
            if (running.Count == replicas && running.All(e => e.Node != notOn))
            {
                return running;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }

        return running;
    }
}
