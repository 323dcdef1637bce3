using System.Diagnostics;
using Pipeline.Docker;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// The Swarm adapter against the 3-node test swarm, through its manager over verified mutual TLS. Services run the
/// probe image (busybox from the swarm's registry) serving their container's host name; addresses on the overlay
/// are checked from a probe container on the overlay, never from this machine.
/// </summary>
[TestFixture]
[Order(2)]
public sealed class SwarmEngineTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private DockerEngine _manager = null!;
    private string _overlay = null!;
    private readonly List<string> _services = [];
    private readonly List<string> _drained = [];
    private readonly List<string> _networks = [];

    /// <summary>Each task writes its container's host name (its container id, 12 characters) and serves it on 8080.</summary>
    private static readonly string[] WebServer =
        ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; hostname > /www/index.html; httpd -f -p 8080 -h /www & wait"];

    [OneTimeSetUp]
    public async Task CreateOverlay()
    {
        _manager = new DockerEngine(TestSwarm.Manager);
        _overlay = TestEnvironment.UniqueName("pipeline-test-ov");
        await _manager.EnsureOverlayNetworkAsync(_overlay, TestSwarm.TestLabels);
    }

    [OneTimeTearDown]
    public async Task RemoveOverlay()
    {
        await RemoveNetworkWhenFreeAsync(_overlay);
        _manager.Dispose();
    }

    [TearDown]
    public async Task RemoveWhatTheTestCreated()
    {
        foreach (var node in _drained)
        {
            await _manager.SetNodeAvailabilityAsync(node, SwarmNodeAvailability.Active);
        }

        foreach (var service in _services)
        {
            await _manager.RemoveServiceAsync(service);
        }

        foreach (var network in _networks)
        {
            await RemoveNetworkWhenFreeAsync(network);
        }

        _drained.Clear();
        _services.Clear();
        _networks.Clear();
    }

    private SwarmServiceSpec WebService(int replicas = 2) => new()
    {
        Name = Track(TestEnvironment.UniqueName("pipeline-test-web")),
        Image = TestSwarm.Options.ProbeImage,
        Command = WebServer,
        Replicas = replicas,
        Networks = [_overlay],
        Labels = TestSwarm.TestLabels,
        ContainerLabels = TestSwarm.TestLabels,
        StopGracePeriod = TimeSpan.FromSeconds(2),
    };

    private string Track(string service)
    {
        _services.Add(service);
        return service;
    }

    [Test]
    public async Task Should_Say_The_Manager_Is_A_Manager_And_A_Worker_Is_Not()
    {
        // Given
        using var worker = new DockerEngine(TestSwarm.NodeSocket(2));

        // When
        var manager = await _manager.GetSwarmInfoAsync();
        var workerInfo = await worker.GetSwarmInfoAsync();

        // Then
        manager.IsManager.ShouldBeTrue();
        manager.LocalState.ShouldBe(SwarmLocalState.Active);
        manager.Managers.ShouldBe(1);
        manager.Nodes.ShouldBe(TestSwarm.Options.Nodes);
        manager.NodeAddress.ShouldBe(TestSwarm.Options.Node(1).Address.ToString());
        workerInfo.LocalState.ShouldBe(SwarmLocalState.Active);
        workerInfo.IsManager.ShouldBeFalse();
    }

    [Test]
    public async Task Should_Refuse_To_Create_A_Service_Through_A_Worker()
    {
        // Given
        using var worker = new DockerEngine(TestSwarm.NodeSocket(2));
        var spec = WebService(1);

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => worker.CreateServiceAsync(spec));

        // Then
        error.StatusCode.ShouldBe(503);
        error.Message.ShouldStartWith($"Creating service {spec.Name} from image {spec.Image} on {TestSwarm.NodeSocket(2)} failed: the engine answered 503 ServiceUnavailable: This node is not a swarm manager.");
    }

    [Test]
    public async Task Should_List_Every_Node_Ready_With_Its_Own_Host_Name()
    {
        // When
        var nodes = await _manager.ListNodesAsync();

        // Then
        nodes.Select(n => n.HostName).ShouldBe(TestSwarm.Options.AllNodes.Select(n => n.HostName));
        nodes.ShouldAllBe(n => n.Status == SwarmNodeStatus.Ready && n.Availability == SwarmNodeAvailability.Active);
        nodes.Single(n => n.Role == SwarmNodeRole.Manager).HostName.ShouldBe(TestSwarm.Options.Node(1).HostName);
        nodes.Single(n => n.IsLeader).HostName.ShouldBe(TestSwarm.Options.Node(1).HostName);
        nodes.Select(n => n.Address).ShouldBe(TestSwarm.Options.AllNodes.Select(n => n.Address.ToString()));
    }

    [Test]
    public async Task Should_Spread_Two_Replicas_Over_Two_Nodes_That_Answer_On_Their_Overlay_Addresses()
    {
        // Given
        var spec = WebService(2);

        // When
        await _manager.CreateServiceAsync(spec);
        var running = await RunningTasksAsync(spec.Name, 2);

        // Then: two nodes, and a probe on the overlay reaches each task at its address and by the service's name
        running.Select(t => t.NodeHostName).Distinct().Count().ShouldBe(2);
        running.ShouldAllBe(t => t.Addresses.ContainsKey(_overlay) && t.ContainerId != null);
        // (A node that had no task on the overlay learns where the others' tasks are a few seconds after the probe joins it.)
        var probe = await ProbeAsync(string.Join("; ", running.Select(t => t.Addresses[_overlay]).Select(a => $"for i in $(seq 30); do r=$(timeout 2 wget -q -O - http://{a}:8080/) && break; sleep 1; done; echo {a}=$r"))
            + $"; nslookup {spec.Name} | sed -n '/^Name:/,$p' | grep -c '^Address'");
        var answers = running.Select(t => $"{t.Addresses[_overlay]}={t.ContainerId![..12]}").ToList();
        probe.Take(2).ShouldBe(answers, ignoreOrder: true);
        probe[2].ShouldBe("2");
    }

    [Test]
    public async Task Should_Move_Tasks_Off_A_Drained_Node()
    {
        // Given: two replicas, one of them on a worker
        var spec = WebService(2);
        await _manager.CreateServiceAsync(spec);
        var before = await RunningTasksAsync(spec.Name, 2);
        var worker = before.Select(t => t.NodeHostName!).First(h => h != TestSwarm.Options.Node(1).HostName);

        // When
        _drained.Add(worker);
        await _manager.SetNodeAvailabilityAsync(worker, SwarmNodeAvailability.Drain);
        var after = await RunningTasksAsync(spec.Name, 2, t => t.NodeHostName != worker);

        // Then
        var nodes = await _manager.ListNodesAsync();
        nodes.Where(n => n.HostName == worker).Select(n => n.Availability).ShouldBe(
            [SwarmNodeAvailability.Drain],
            "the nodes: " + string.Join(", ", nodes.Select(n => $"{n.HostName} {n.Id[..12]} {n.Status} {n.Availability}")));
        after.ShouldAllBe(t => t.NodeHostName != worker);
        var moved = before.Single(t => t.NodeHostName == worker);
        (await _manager.ListTasksAsync(spec.Name)).Single(t => t.Id == moved.Id).DesiredState.ShouldBe(SwarmTaskState.Shutdown);
    }

    [Test]
    public async Task Should_Keep_Every_Setting_Through_Create_Inspect_And_Update()
    {
        // Given
        var spec = WebService(1) with
        {
            Environment = new Dictionary<string, string> { ["GREETING"] = "hello", ["EMPTY"] = "" },
            Labels = new Dictionary<string, string>(TestSwarm.TestLabels) { ["pipeline.color"] = "blue" },
            RestartPolicy = new SwarmRestartPolicy(SwarmRestartCondition.OnFailure, TimeSpan.FromSeconds(2), 3, TimeSpan.FromSeconds(30)),
            Constraints = ["node.role==worker"],
            SpreadOver = ["node.labels.zone"],
            Update = new SwarmUpdatePolicy(1, SwarmUpdateOrder.StartFirst, SwarmUpdateFailureAction.Rollback, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)),
            Rollback = new SwarmUpdatePolicy(2, SwarmUpdateOrder.StartFirst, SwarmUpdateFailureAction.Pause, TimeSpan.Zero, TimeSpan.FromSeconds(4)),
        };

        // When
        var id = await _manager.CreateServiceAsync(spec);
        var created = await _manager.InspectServiceAsync(spec.Name);
        await _manager.UpdateServiceAsync(spec.Name, spec with { Replicas = 2, Environment = new Dictionary<string, string> { ["GREETING"] = "again" } });
        var updated = await _manager.InspectServiceAsync(id);
        var running = await RunningTasksAsync(spec.Name, 2);

        // Then
        created.ShouldNotBeNull();
        created.Id.ShouldBe(id);
        ShouldBeSame(created.Spec, spec);
        updated.ShouldNotBeNull();
        updated.Version.ShouldBeGreaterThan(created.Version);
        ShouldBeSame(updated.Spec, spec with { Replicas = 2, Environment = new Dictionary<string, string> { ["GREETING"] = "again" } });
        running.ShouldAllBe(t => t.NodeHostName != TestSwarm.Options.Node(1).HostName);
    }

    [Test]
    public async Task Should_Publish_A_Port_In_Host_Mode_On_The_Node_Running_The_Task()
    {
        // Given: one task pinned to node 2, its port 8080 published on that node
        var node = TestSwarm.Options.Node(2);
        var port = Random.Shared.Next(20000, 30000);
        var spec = WebService(1) with
        {
            Constraints = [$"node.hostname=={node.HostName}"],
            Ports = [new SwarmPort(8080, port, SwarmPublishMode.Host)],
        };

        // When
        await _manager.CreateServiceAsync(spec);
        var task = (await RunningTasksAsync(spec.Name, 1)).Single();
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        var body = await http.GetStringAsync(new Uri($"http://{node.Address}:{port}/"));

        // Then
        task.NodeHostName.ShouldBe(node.HostName);
        body.Trim().ShouldBe(task.ContainerId![..12]);
    }

    [Test]
    public async Task Should_Remove_A_Service_And_Ignore_One_That_Is_Gone()
    {
        // Given
        var spec = WebService(1);
        await _manager.CreateServiceAsync(spec);

        // When
        await _manager.RemoveServiceAsync(spec.Name);
        await _manager.RemoveServiceAsync(spec.Name);

        // Then
        (await _manager.InspectServiceAsync(spec.Name)).ShouldBeNull();
        (await _manager.ListServicesAsync(new Dictionary<string, string> { ["pipeline.test"] = "swarm" })).ShouldNotContain(s => s.Name == spec.Name);
    }

    [Test]
    public async Task Should_Name_The_Nodes_When_Asked_To_Drain_One_That_Does_Not_Exist()
    {
        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _manager.SetNodeAvailabilityAsync("no-such-node", SwarmNodeAvailability.Drain));

        // Then
        error.Message.ShouldStartWith($"Setting node no-such-node to drain on {TestSwarm.Manager} failed: no node has that id or host name. The swarm's nodes: ");
        foreach (var node in TestSwarm.Options.AllNodes)
        {
            error.Message.ShouldContain(node.HostName);
        }
    }

    [Test]
    public async Task Should_Refuse_A_Network_Of_That_Name_That_Is_Not_An_Attachable_Overlay()
    {
        // Given: a local bridge network on the manager under the name
        var name = TestEnvironment.UniqueName("pipeline-test-br");
        _networks.Add(name);
        await _manager.EnsureNetworkAsync(name, TestSwarm.TestLabels);

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _manager.EnsureOverlayNetworkAsync(name, TestSwarm.TestLabels));

        // Then
        error.Message.ShouldBe($"Network {name} on {TestSwarm.Manager} exists but is a bridge network; an attachable overlay is needed. Remove it (docker network rm {name}) or choose another name.");
    }

    [Test]
    public async Task Should_Give_The_Same_Network_When_Asked_Twice()
    {
        // When
        var first = await _manager.EnsureOverlayNetworkAsync(_overlay, TestSwarm.TestLabels);
        var second = await _manager.EnsureOverlayNetworkAsync(_overlay, TestSwarm.TestLabels);

        // Then
        second.ShouldBe(first);
    }

    private static void ShouldBeSame(SwarmServiceSpec actual, SwarmServiceSpec expected)
    {
        actual.Name.ShouldBe(expected.Name);
        actual.Image.ShouldBe(expected.Image);
        actual.Command.ShouldBe(expected.Command);
        actual.Args.ShouldBeNull();
        actual.Environment.ShouldBe(expected.Environment, ignoreOrder: true);
        actual.Labels.ShouldBe(expected.Labels, ignoreOrder: true);
        actual.ContainerLabels.ShouldBe(expected.ContainerLabels, ignoreOrder: true);
        actual.Replicas.ShouldBe(expected.Replicas);
        actual.RestartPolicy.ShouldBe(expected.RestartPolicy);
        actual.Constraints.ShouldBe(expected.Constraints);
        actual.SpreadOver.ShouldBe(expected.SpreadOver);
        actual.EndpointMode.ShouldBe(expected.EndpointMode);
        actual.Update.ShouldBe(expected.Update);
        actual.Rollback.ShouldBe(expected.Rollback);
        actual.Ports.ShouldBe(expected.Ports);
        actual.StopGracePeriod.ShouldBe(expected.StopGracePeriod);
        actual.Networks.Count.ShouldBe(expected.Networks.Count);
    }

    /// <summary>Waits until the service has <paramref name="count"/> running tasks (all matching the condition), and returns them.</summary>
    private async Task<IReadOnlyList<SwarmTaskInfo>> RunningTasksAsync(string service, int count, Func<SwarmTaskInfo, bool>? condition = null)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<SwarmTaskInfo> tasks = [];
        while (clock.Elapsed < Patience)
        {
            tasks = await _manager.ListTasksAsync(service);
            var running = tasks.Where(t => t.IsRunning).ToList();
            if (running.Count == count && running.All(condition ?? (_ => true)))
            {
                return running;
            }

            await Task.Delay(500);
        }

        Assert.Fail($"Service {service} did not get {count} running tasks within {Patience.TotalSeconds} s. Its tasks: "
            + string.Join("; ", tasks.Select(t => $"{t.Slot} on {t.NodeHostName}: {t.State}/{t.DesiredState} {t.Message} {t.Error}")));
        return [];
    }

    /// <summary>Runs a shell script in a probe container on the manager, attached to the overlay; returns its output lines.</summary>
    private async Task<IReadOnlyList<string>> ProbeAsync(string script)
    {
        var id = await _manager.CreateContainerAsync(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-probe"),
            Image = TestSwarm.Options.ProbeImage,
            Command = ["sh", "-c", script],
            Network = _overlay,
            Labels = TestSwarm.TestLabels,
        });
        try
        {
            await _manager.StartContainerAsync(id);
            using var timeout = new CancellationTokenSource(Patience);
            var exit = await _manager.WaitContainerAsync(id, timeout.Token);
            var lines = new List<string>();
            await _manager.StreamLogsAsync(id, lines.Add, timeout.Token);
            exit.ShouldBe(0, $"The probe exited with {exit}: {string.Join(" | ", lines)}");
            return lines;
        }
        finally
        {
            await _manager.RemoveContainerAsync(id);
        }
    }

    /// <summary>A network can be removed only once the tasks of removed services have left it.</summary>
    private async Task RemoveNetworkWhenFreeAsync(string name)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await _manager.RemoveNetworkAsync(name);
                return;
            }
            catch (DockerEngineException) when (clock.Elapsed < Patience)
            {
                await Task.Delay(500);
            }
        }
    }
}
