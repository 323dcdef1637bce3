using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Healing;
using Pipeline.History;
using Pipeline.Proxy;
using Pipeline.Runtime;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// <c>--target=Heal</c> and <c>--target=Scale</c> on the test swarm, against one service live in blue (two tasks) with load
/// through the proxy on the manager: a task that runs but fails its health path is replaced, a node whose tasks keep
/// failing is drained and later set active again, and the live release is scaled out and in. One deploy serves every
/// test here (they run in order, each leaving the service with two healthy tasks).
/// </summary>
[NonParallelizable]
[Order(4)]
public sealed class SwarmHealTests
{
    private SwarmLiveService _live = null!;
    private DeploymentOptions _options = null!;

    [OneTimeSetUp]
    public async Task DeployTheLiveService()
    {
        _live = await SwarmLiveService.DeployAsync("swheal");
        _options = _live.For(_live.Directory, "1.0.0") with
        {
            Healing = new HealingOptions { FailureThreshold = 2, Backoff = TimeSpan.Zero },
        };
    }

    [Test]
    [Order(1)]
    public async Task Should_Replace_A_Task_That_Runs_But_Fails_Its_Health_Path_While_The_Proxy_Keeps_Answering()
    {
        // Given the live release's task on a worker no longer answering its health path (the rest of it still serves)
        var (release, sick) = await TaskOnAWorkerAsync();
        await BreakHealthPathAsync(sick);
        await using var load = ProxyLoad.Start(_live.Harness.ProxyUrl, clients: 4);

        // When one Heal pass runs (the threshold is two failed checks)
        PipelineHarness.Run(_options, "Heal").ShouldBe(0);

        // Then the task is only counted: it still runs, its failure is kept for the next pass
        var ledger = new HealthLedger(_live.Harness.Registry, _live.Harness.KeyPrefix, _live.Service);
        var counted = (await ledger.ReadInstancesAsync()).ShouldHaveSingleItem();
        counted.Key.ShouldContain(sick.Task.Id);
        counted.Value.Failures.ShouldBe(1);

        // When the next pass finds it failing again
        PipelineHarness.Run(_options, "Heal").ShouldBe(0);

        // Then Swarm replaced the tasks: two new ones run, both answer, the registry and proxy follow them, nothing is left
        // of the sick one's failures, and the heal is in the history
        var running = await RunningTasksAsync(release);
        running.Count.ShouldBe(2);
        running.ShouldNotContain(t => t.Id == sick.Task.Id);
        var record = (await _live.Harness.Catalog.GetReleaseAsync(_live.Service, "blue")).ShouldNotBeNull();
        record.AllEndpoints.Select(e => e.Address).Order().ShouldBe(running.Select(t => t.Addresses[_live.Harness.Network]).Order());
        var config = (await _live.Harness.Proxy.ReadLiveConfigAsync()).ShouldNotBeNull();
        ProxyConfigAddresses.RoutesTo(config, running.Select(t => t.Addresses[_live.Harness.Network]).ToList()).ShouldBeTrue();
        (await ledger.ReadInstancesAsync()).ShouldBeEmpty();
        var heal = (await new ServiceHistory(_live.Harness.Catalog).ReadAsync(_live.Service, 10)).First(r => r.Kind == HistoryKinds.Heal);
        heal.Outcome.ShouldBe(HistoryOutcomes.Healed);
        heal.Summary.ShouldNotBeNull().ShouldContain(sick.Task.Id);
        (await _live.Harness.Registry.GetPrefixAsync($"{_live.Harness.KeyPrefix}/journal/{_live.Service}/")).ShouldBeEmpty();

        // And the requests through the proxy kept being answered
        var (sent, failures, colors) = await load.StopAsync();
        TestContext.Progress.WriteLine($"swarm heal of a sick task: {sent} requests through the proxy, {failures.Count} failed. {string.Join("; ", failures.Take(5))}");
        sent.ShouldBeGreaterThan(0);
        colors.Keys.ShouldBe(["blue"]);
        failures.Count.ShouldBeLessThanOrEqualTo(1, string.Join("; ", failures));
    }

    [Test]
    [Order(2)]
    public async Task Should_Drain_A_Node_Whose_Tasks_Keep_Failing_And_Set_It_Active_Again_After_It_Was_Quiet()
    {
        // Given the live release's task on a worker failing its health path, and Heal set to drain a node after two
        // failures there (and never to replace the task itself)
        var options = _options with
        {
            Healing = _options.Healing with { FailureThreshold = 100, NodeFailures = 2, NodeUndrainAfter = TimeSpan.FromSeconds(5) },
        };
        var (release, sick) = await TaskOnAWorkerAsync();
        var worker = sick.Task.NodeHostName.ShouldNotBeNull();
        await BreakHealthPathAsync(sick);
        await using var load = ProxyLoad.Start(_live.Harness.ProxyUrl, clients: 4);
        using var manager = new DockerEngine(TestSwarm.Manager);
        var ledger = new HealthLedger(_live.Harness.Registry, _live.Harness.KeyPrefix, _live.Service);
        foreach (var (key, _) in await _live.Harness.Registry.GetPrefixAsync($"{ledger.Prefix}nodes/"))
        {
            // (the failures the test before saw count for nothing here)
            await _live.Harness.Registry.DeleteAsync(key);
        }

        try
        {
            // When one Heal pass runs: one failure on the worker, not enough to drain it
            PipelineHarness.Run(options, "Heal").ShouldBe(0);
            (await NodeAsync(manager, worker)).Availability.ShouldBe(SwarmNodeAvailability.Active);

            // When the next pass sees the second failure there
            PipelineHarness.Run(options, "Heal").ShouldBe(0);

            // Then the worker is drained, recorded as drained by Heal; its task moved off it, the registry and proxy follow
            var node = await NodeAsync(manager, worker);
            node.Availability.ShouldBe(SwarmNodeAvailability.Drain);
            (await ledger.ReadNodesAsync())[node.Id].DrainedAt.ShouldNotBeNull();
            var running = await RunningTasksAsync(release);
            running.Count.ShouldBe(2);
            running.ShouldAllBe(t => t.NodeHostName != worker);
            var record = (await _live.Harness.Catalog.GetReleaseAsync(_live.Service, "blue")).ShouldNotBeNull();
            record.AllEndpoints.Select(e => e.Address).Order().ShouldBe(running.Select(t => t.Addresses[_live.Harness.Network]).Order());
            var heal = (await new ServiceHistory(_live.Harness.Catalog).ReadAsync(_live.Service, 10)).First(r => r.Kind == HistoryKinds.Heal);
            heal.Summary.ShouldNotBeNull().ShouldContain($"drained node {worker} (2 failure(s)");

            // When a pass runs after the worker has been quiet for the undrain time
            await Task.Delay(options.Healing.NodeUndrainAfter + TimeSpan.FromSeconds(1));
            PipelineHarness.Run(options, "Heal").ShouldBe(0);

            // Then it is active again and no longer recorded as drained
            (await NodeAsync(manager, worker)).Availability.ShouldBe(SwarmNodeAvailability.Active);
            (await ledger.ReadNodesAsync()).GetValueOrDefault(node.Id)?.DrainedAt.ShouldBeNull();
        }
        finally
        {
            await manager.SetNodeAvailabilityAsync(worker, SwarmNodeAvailability.Active);
        }

        // And the requests through the proxy kept being answered
        var (sent, failures, colors) = await load.StopAsync();
        TestContext.Progress.WriteLine($"swarm drain of a failing node: {sent} requests through the proxy, {failures.Count} failed. {string.Join("; ", failures.Take(5))}");
        sent.ShouldBeGreaterThan(0);
        colors.Keys.ShouldBe(["blue"]);
        failures.Count.ShouldBeLessThanOrEqualTo(1, string.Join("; ", failures));
    }

    [Test]
    [Order(3)]
    public async Task Should_Scale_The_Live_Service_Out_And_In_With_The_Registry_And_Proxy_Following()
    {
        var record = (await _live.Harness.Catalog.GetReleaseAsync(_live.Service, "blue")).ShouldNotBeNull();
        var release = new ReleaseId(_live.Service, "blue", record.DeployId);
        await using var load = ProxyLoad.Start(_live.Harness.ProxyUrl, clients: 4);
        var before = (await RunningTasksAsync(release)).Select(t => t.Id).ToList();
        foreach (var replicas in new[] { 3, 2 })
        {
            // When Scale runs with --replicas
            var run = PipelineHarness.RunInProcess(_options with { Replicas = replicas }, "Scale");

            // Then the service runs that many tasks (scaling out left the running ones alone), all registered and routed,
            // the record says so, the journal is empty
            run.ExitCode.ShouldBe(0, $"Scale to {replicas}");
            var running = await RunningTasksAsync(release);
            running.Count.ShouldBe(replicas);
            if (replicas == 3)
            {
                before.ShouldBeSubsetOf(running.Select(t => t.Id));
            }

            record = (await _live.Harness.Catalog.GetReleaseAsync(_live.Service, "blue")).ShouldNotBeNull();
            record.DesiredReplicas.ShouldBe(replicas);
            record.AllEndpoints.Select(e => e.Address).Order().ShouldBe(running.Select(t => t.Addresses[_live.Harness.Network]).Order());
            var config = (await _live.Harness.Proxy.ReadLiveConfigAsync()).ShouldNotBeNull();
            ProxyConfigAddresses.RoutesTo(config, running.Select(t => t.Addresses[_live.Harness.Network]).ToList()).ShouldBeTrue();
            (await _live.Harness.Registry.GetPrefixAsync($"{_live.Harness.KeyPrefix}/journal/{_live.Service}/")).ShouldBeEmpty();
            var scale = (await new ServiceHistory(_live.Harness.Catalog).ReadAsync(_live.Service, 10)).First(r => r.Kind == HistoryKinds.Scale);
            scale.Outcome.ShouldBe(HistoryOutcomes.Scaled);
            scale.Summary.ShouldNotBeNull().ShouldContain($"to {replicas} replica(s)");
        }

        // And the requests through the proxy kept being answered
        var (sent, failures, colors) = await load.StopAsync();
        TestContext.Progress.WriteLine($"swarm scale 2 -> 3 -> 2: {sent} requests through the proxy, {failures.Count} failed. {string.Join("; ", failures.Take(5))}");
        sent.ShouldBeGreaterThan(0);
        colors.Keys.ShouldBe(["blue"]);
        failures.Count.ShouldBeLessThanOrEqualTo(1, string.Join("; ", failures));
    }

    private static async Task<SwarmNodeInfo> NodeAsync(DockerEngine manager, string hostName) =>
        (await manager.ListNodesAsync()).Single(n => n.HostName == hostName && n.Status != SwarmNodeStatus.Down);

    /// <summary>The live (blue) release, and one of its running tasks on a worker with that worker's number.</summary>
    private async Task<(ReleaseId Release, (SwarmTaskInfo Task, int Node) Sick)> TaskOnAWorkerAsync()
    {
        var record = (await _live.Harness.Catalog.GetReleaseAsync(_live.Service, "blue")).ShouldNotBeNull();
        var release = new ReleaseId(_live.Service, "blue", record.DeployId);
        var running = await RunningTasksAsync(release);
        var manager = TestSwarm.Options.Node(1).HostName;
        var task = running.FirstOrDefault(t => t.NodeHostName != manager).ShouldNotBeNull($"a task of {release.Name} runs on a worker");
        var node = TestSwarm.Options.AllNodes.First(n => n.HostName == task.NodeHostName).Number;
        return (release, (task, node));
    }

    private async Task<IReadOnlyList<SwarmTaskInfo>> RunningTasksAsync(ReleaseId release)
    {
        using var manager = new DockerEngine(TestSwarm.Manager);
        return (await manager.ListTasksAsync(SwarmRuntime.ServiceName(release)))
            .Where(t => t.IsRunning && t.Addresses.ContainsKey(_live.Harness.Network))
            .ToList();
    }

    /// <summary>Removes the health file(s) inside the task's container, through its own node's engine.</summary>
    private static async Task BreakHealthPathAsync((SwarmTaskInfo Task, int Node) sick)
    {
        using var node = new DockerEngine(TestSwarm.NodeSocket(sick.Node));
        var result = await node.ExecAsync(sick.Task.ContainerId.ShouldNotBeNull(), ["sh", "-c", "rm -f /www/health /www/*/health"]);
        result.ExitCode.ShouldBe(0, result.Stderr);
    }
}
