using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Journal;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Testing.Support;
using Pipeline.Tests.Support;

namespace Pipeline.Tests.Journal;

/// <summary>
/// The rollback core on an in-memory registry, a stand-in engine (containers, volumes and networks with their labels)
/// and a stand-in proxy: no engine runs. A service "hello" is live in blue; a deploy (id <see cref="DeployId"/>) records
/// its undo steps the way the stages do and makes its changes, then the journal is unwound.
/// </summary>
public sealed class RollbackRunnerTests
{
    private const string DeployId = "20261130120000-abc123";
    private const string ColorKey = "p/services/hello/color";
    private const string GreenKey = "p/services/hello/releases/green";
    private const string BlueKey = "p/services/hello/releases/blue";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);
    private InMemoryRegistry _registry = null!;
    private StandInEngine _engine = null!;
    private StandInProxy _proxy = null!;
    private DeploymentJournal _journal = null!;
    private List<string> _log = null!;
    private List<string> _warnings = null!;

    [SetUp]
    public async Task CreateHelloLiveInBlue()
    {
        _registry = new InMemoryRegistry();
        _engine = new StandInEngine();
        _proxy = new StandInProxy();
        _journal = new DeploymentJournal(_registry, "p", "hello", DeployId);
        _log = [];
        _warnings = [];
        await GoLiveAsync("hello", "blue", "20261129100000-b1b1b1");
    }

    [TearDown]
    public void DisposeThem()
    {
        _registry.Dispose();
        _engine.Dispose();
    }

    private RollbackRunner Runner(TimeProvider? time = null, Func<string?>? lockLost = null) => new(
        _journal,
        new RollbackScope(
            "hello",
            new ServiceCatalog(_registry, "p"),
            _engine,
            new ProxySwitch(_proxy, "proxy", new ServiceCatalog(_registry, "p"), "rollback-run", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), time ?? TimeProvider.System, _warnings.Add))
        {
            Releases = new ContainerRuntime(_engine, "pipeline", "127.0.0.1:5000/pipeline/probe:latest", builtHere: true, time),
        },
        StepTimeout,
        _log.Add,
        time,
        lockLost);

    private static Dictionary<string, string> ReleaseLabels(string service, string color, string deployId) => new()
    {
        [Labels.Service] = service,
        [Labels.Color] = color,
        [Labels.Version] = "1.0.0",
        [Labels.DeployId] = deployId,
        [Labels.Role] = Roles.Release,
    };

    /// <summary>A release of <paramref name="service"/> running on the network, registered and live, and the proxy rendered from the registry.</summary>
    private async Task<string> GoLiveAsync(string service, string color, string deployId)
    {
        var container = _engine.AddContainer($"{service}-{color}-{deployId[^6..]}", ReleaseLabels(service, color, deployId), "pipeline");
        await _registry.PutAsync($"p/services/{service}/releases/{color}", Release(service, color, container.NetworkAddresses["pipeline"], container.Id));
        await _registry.PutAsync($"p/services/{service}/color", color);
        _proxy.Live = await RenderAsync();
        return container.Name;
    }

    private static string Release(string service, string color, string address, string containerId) => JsonSerializer.Serialize(
        new ReleaseRecord(service, color, "1.0.0", $"127.0.0.1:5000/{service}:1.0.0", null, address, 8080, $"/{service}/", null, "d", containerId, DateTimeOffset.UnixEpoch),
        Json);

    private Task<string> RenderAsync() =>
        new ProxySwitch(_proxy, "proxy", new ServiceCatalog(_registry, "p"), "render", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), TimeProvider.System).RenderFromRegistryAsync(CancellationToken.None);

    /// <summary>What hello's deploy of green records and changes up to the switch, each undo before its change (as the stages do).</summary>
    private async Task DeployGreenUpToTheSwitchAsync(bool withVolume = true)
    {
        const string name = "hello-green-abc123";
        if (withVolume)
        {
            await _journal.RecordAsync(UndoStep.RemoveVolume($"{name}-data"));
            _engine.AddVolume($"{name}-data", ReleaseLabels("hello", "green", DeployId));
        }

        await _journal.RecordAsync(UndoStep.RemoveContainer(name));
        var green = _engine.AddContainer(name, ReleaseLabels("hello", "green", DeployId), "pipeline");
        await _journal.RecordAsync(UndoStep.RestoreKey(GreenKey, null));
        await _registry.PutAsync(GreenKey, Release("hello", "green", green.NetworkAddresses["pipeline"], green.Id));
        var previous = _proxy.Live!;
        var next = _proxy.RenderOf(("hello", "green", green.NetworkAddresses["pipeline"]));
        await _journal.RecordAsync(UndoStep.RestoreProxy(previous, next));
        await _journal.RecordAsync(UndoStep.RestoreKey(ColorKey, "blue"));
        await _registry.PutAsync(ColorKey, "green");
        await _proxy.ApplyAsync(next);
    }

    private IReadOnlyDictionary<string, string> Keys() => _registry.Snapshot();

    // ---- Unwinding ----------------------------------------------------------------------------------------------

    [Test]
    public async Task Should_Undo_Every_Step_Newest_First_And_Empty_The_Journal()
    {
        // Given a deploy that got as far as the switch
        var keysBefore = Keys();
        var configBefore = _proxy.Live;
        await DeployGreenUpToTheSwitchAsync();

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then each change was undone in reverse order, and the registry and the proxy are as before the deploy
        report.Done.ShouldBe(
        [
            "restored registry key p/services/hello/color",
            "restored the proxy config from the registry",
            "deleted registry key p/services/hello/releases/green",
            "removed container hello-green-abc123",
            "removed volume hello-green-abc123-data",
        ]);
        report.Complete.ShouldBeTrue();
        _engine.Removed.ShouldBe(["container hello-green-abc123", "volume hello-green-abc123-data"]);
        _proxy.Live.ShouldBe(configBefore);
        Keys().ShouldBe(keysBefore);
        _log.ShouldBe(report.Done.Select(d => $"rollback: {d}"));
    }

    [Test]
    public async Task Should_Do_Nothing_The_Second_Time()
    {
        // Given a journal that was unwound once
        await DeployGreenUpToTheSwitchAsync();
        await Runner().RunAsync();
        var after = Keys();

        // When it is unwound again (a retry, or a second handler)
        var again = await Runner().RunAsync();

        // Then nothing more happened
        again.Done.ShouldBeEmpty();
        again.Summary.ShouldBe("nothing to undo");
        Keys().ShouldBe(after);
        _engine.Removed.Count.ShouldBe(2);
    }

    [Test]
    public async Task Should_Keep_A_Failing_Removal_In_The_Journal_And_Still_Run_The_Others()
    {
        // Given a deploy whose container cannot be removed (the engine does not answer)
        await DeployGreenUpToTheSwitchAsync();
        _engine.Unreachable.Add("hello-green-abc123");

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then every other step ran (a removal is not something older steps depend on); the failed one is reported and stays
        report.Complete.ShouldBeFalse();
        report.Done.Count.ShouldBe(4);
        report.Failed.ShouldBe([$"removed container hello-green-abc123: Could not reach the Docker engine at {_engine.Endpoint} while removing container hello-green-abc123: Connection refused"]);
        report.Summary.ShouldEndWith(
            $"; FAILED to undo (kept in the journal, retry with --target=Rollback): removed container hello-green-abc123: Could not reach the Docker engine at {_engine.Endpoint} while removing container hello-green-abc123: Connection refused");
        _engine.Removed.ShouldBe(["volume hello-green-abc123-data"]);
        (await _journal.ReadAsync()).ShouldHaveSingleItem().Step.ShouldNotBeNull().Arguments["name"].ShouldBe("hello-green-abc123");

        // And when the engine answers again, a retry finishes the job
        _engine.Unreachable.Clear();
        var retry = await Runner().RunAsync();
        retry.Done.ShouldBe(["removed container hello-green-abc123"]);
        (await _journal.ReadAsync()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Give_Each_Step_Its_Own_Timeout_And_Move_On()
    {
        // Given a removal that never finishes, newer than one that works
        var time = new FakeTimeProvider();
        await _journal.RecordAsync(UndoStep.RemoveContainer("answers"));
        _engine.AddContainer("answers", ReleaseLabels("hello", "green", DeployId));
        await _journal.RecordAsync(UndoStep.RemoveContainer("hangs"));
        _engine.AddContainer("hangs", ReleaseLabels("hello", "green", DeployId));
        _engine.Hanging.Add("hangs");

        // When the journal is unwound and the hanging step's timeout passes (the clock moves only while a step hangs, so
        // the working step, however slowly it runs, never sees its own timeout pass)
        var run = Runner(time).RunAsync();
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (!run.IsCompleted)
        {
            guard.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), "the unwind did not finish");
            await Task.Yield();
            if (_engine.HangsInProgress > 0)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }
        }

        var report = await run;

        // Then the hanging step failed on its own timeout and stays; the next one still ran
        report.Failed.ShouldHaveSingleItem().ShouldStartWith("removed container hangs: ");
        report.Done.ShouldBe(["removed container answers"]);
        (await _journal.ReadAsync()).ShouldHaveSingleItem().Step.ShouldNotBeNull().Arguments["name"].ShouldBe("hangs");
    }

    [Test]
    public async Task Should_Fail_When_The_Journal_Cannot_Be_Read()
    {
        // Given a registry that does not answer
        await _journal.RecordAsync(UndoStep.RemoveContainer("hello-green-abc123"));
        _registry.Refuse = operation => operation.StartsWith("list keys", StringComparison.Ordinal);

        // When / Then: nothing was undone, and the caller learns why
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => Runner().RunAsync());
        error.Message.ShouldBe("Could not reach the in-memory registry memory to list keys under 'p/journal/hello/': it was told to refuse.");
        _engine.Removed.ShouldBeEmpty();
    }

    // ---- Issue 9 item 5: a rollback must not cause an outage ------------------------------------------------------

    [Test]
    public async Task Should_Stop_And_Keep_The_Live_Release_When_The_Proxy_Restore_Fails()
    {
        // Given a deploy that switched the proxy to green, and a proxy that cannot be changed back
        await DeployGreenUpToTheSwitchAsync();
        var routedToGreen = _proxy.Live;
        _proxy.FailApply = new ProxyException("The haproxy proxy 'proxy' did not activate the new config.");

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then the unwind stopped at the proxy: green, which the proxy still routes to, is neither deregistered nor removed
        report.Done.ShouldBe(["restored registry key p/services/hello/color"]);
        report.Failed.ShouldBe(["restored the proxy config from the registry: The haproxy proxy 'proxy' did not activate the new config."]);
        report.StillInPlace.ShouldBe(["registry key p/services/hello/releases/green (not restored)", "container hello-green-abc123", "volume hello-green-abc123-data"]);
        report.Summary.ShouldBe(
            "restored registry key p/services/hello/color; FAILED to undo (kept in the journal, retry with --target=Rollback): " +
            "restored the proxy config from the registry: The haproxy proxy 'proxy' did not activate the new config.; " +
            "the unwind stopped there (restore-proxy failed and the older steps depend on it), so these are still in place: " +
            "registry key p/services/hello/releases/green (not restored), container hello-green-abc123, volume hello-green-abc123-data");
        _engine.Removed.ShouldBeEmpty();
        _proxy.Live.ShouldBe(routedToGreen);
        (await _journal.ReadAsync()).Select(e => e.Step!.Kind).ShouldBe([UndoKinds.RemoveVolume, UndoKinds.RemoveContainer, UndoKinds.RestoreKey, UndoKinds.RestoreProxy]);

        // And once the proxy can be changed again, a retry finishes the job
        _proxy.FailApply = null;
        (await Runner().RunAsync()).Complete.ShouldBeTrue();
        _engine.Removed.ShouldBe(["container hello-green-abc123", "volume hello-green-abc123-data"]);
    }

    [Test]
    public async Task Should_Stop_When_A_Registry_Key_Cannot_Be_Put_Back()
    {
        // Given a deploy that switched, and a registry that refuses to write the colour back
        await DeployGreenUpToTheSwitchAsync();
        _registry.Refuse = operation => operation == $"put '{ColorKey}'";

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then nothing older ran: the proxy would have been rendered from the new colour
        report.Done.ShouldBeEmpty();
        report.StoppedBecause.ShouldBe("restore-key failed and the older steps depend on it");
        _proxy.Applied.Count.ShouldBe(1); // the switch's own
        _engine.Removed.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Not_Remove_A_Release_The_Proxys_Live_Config_Routes_To()
    {
        // Given a journal whose only step removes green, while the proxy routes to green
        await DeployGreenUpToTheSwitchAsync(withVolume: false);
        foreach (var entry in (await _journal.ReadAsync()).Where(e => e.Step!.Kind != UndoKinds.RemoveContainer))
        {
            await _journal.RemoveAsync(entry.Key);
        }

        // When it is unwound
        var report = await Runner().RunAsync();

        // Then green stays, and the message says why
        report.Failed.ShouldHaveSingleItem().ShouldMatch(
            @"^removed container hello-green-abc123: container hello-green-abc123 was not removed: the proxy's live config still routes to it \(10\.9\.0\.\d+\); removing it would take that traffic down$");
        report.StoppedBecause.ShouldBe("remove-container would take live traffic down");
        _engine.Removed.ShouldBeEmpty();
        (await _journal.ReadAsync()).ShouldHaveSingleItem();
    }

    [Test]
    public async Task Should_Stop_Before_The_Next_Step_When_The_Deploy_Lock_Is_Lost()
    {
        // Given a deploy that switched, and a lock that is found lost before the second undo step
        await DeployGreenUpToTheSwitchAsync();
        var checks = 0;

        // When the journal is unwound
        var report = await Runner(lockLost: () => ++checks >= 2 ? "its lease 7 expired or was revoked" : null).RunAsync();

        // Then the runner stopped touching anything once the lock was gone, and says what is left
        report.Done.ShouldBe(["restored registry key p/services/hello/color"]);
        report.StoppedBecause.ShouldBe("this run no longer holds the deploy lock: its lease 7 expired or was revoked");
        report.StillInPlace.ShouldBe(
        [
            "the proxy config of the switch (not restored)",
            "registry key p/services/hello/releases/green (not restored)",
            "container hello-green-abc123",
            "volume hello-green-abc123-data",
        ]);
        (await _journal.ReadAsync()).Count.ShouldBe(4);
        _engine.Removed.ShouldBeEmpty();
        _proxy.Applied.Count.ShouldBe(1); // the switch's own
    }

    // ---- Release steps: sent to the release runtime ----------------------------------------------------------------

    [Test]
    public async Task Should_Remove_A_Release_Through_The_Runtime_With_Its_Replicas_Volumes_And_Probe()
    {
        // Given a deploy that started green (two replicas, a volume, a probe left by a crash) through the runtime
        await _journal.RecordAsync(UndoStep.RemoveRelease("hello", "green", DeployId));
        _engine.AddContainer("hello-green-abc123", ReleaseLabels("hello", "green", DeployId), "pipeline");
        _engine.AddContainer("hello-green-abc123-2", ReleaseLabels("hello", "green", DeployId), "pipeline");
        _engine.AddContainer("hello-green-abc123-probe-1a2b", new Dictionary<string, string>(ReleaseLabels("hello", "green", DeployId)) { [Labels.Role] = Roles.Probe }, "pipeline");
        _engine.AddVolume("hello-green-abc123-data", ReleaseLabels("hello", "green", DeployId));

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then everything of that release went, found by its labels, and blue is untouched
        report.Done.ShouldBe(["removed release hello-green-abc123"]);
        report.Complete.ShouldBeTrue();
        _engine.Removed.Order(StringComparer.Ordinal).ShouldBe(
            ["container hello-green-abc123", "container hello-green-abc123-2", "container hello-green-abc123-probe-1a2b", "volume hello-green-abc123-data"]);
        _engine.Existing.ShouldBe(["container hello-blue-b1b1b1"]);
        (await _journal.ReadAsync()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Not_Remove_A_Release_The_Proxy_Still_Routes_To()
    {
        // Given a journal whose only step removes green, while the proxy routes to green
        await _journal.RecordAsync(UndoStep.RemoveRelease("hello", "green", DeployId));
        var green = _engine.AddContainer("hello-green-abc123", ReleaseLabels("hello", "green", DeployId), "pipeline");
        await _proxy.ApplyAsync(_proxy.RenderOf(("hello", "green", green.NetworkAddresses["pipeline"])));

        // When it is unwound
        var report = await Runner().RunAsync();

        // Then green stays, and the message says why
        report.Failed.ShouldHaveSingleItem().ShouldMatch(
            @"^removed release hello-green-abc123: release hello-green-abc123 was not removed: the proxy's live config still routes to it \(10\.9\.0\.\d+\); removing it would take that traffic down$");
        report.StoppedBecause.ShouldBe("remove-release would take live traffic down");
        _engine.Removed.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Refuse_A_Release_Step_That_Names_Another_Deploy_Or_Service()
    {
        // Given steps that name blue's deploy (live, not this run's) and another service's release
        await _journal.RecordAsync(UndoStep.RemoveRelease("hello", "blue", "20261129100000-b1b1b1"));
        await _journal.RecordAsync(UndoStep.RemoveRelease("other", "green", DeployId));

        // When they are unwound
        var report = await Runner().RunAsync();

        // Then neither ran; both stay for a person
        report.Refused.ShouldBe(
        [
            "000002 remove-release (removed release other-green-abc123): it names a release of other, not of hello, whose journal this is",
            $"000001 remove-release (removed release hello-blue-b1b1b1): release hello-blue-b1b1b1 is not one deploy {DeployId} started, so this step may not remove it",
        ]);
        _engine.Removed.ShouldBeEmpty();
        (await _journal.ReadAsync()).Count.ShouldBe(2);
    }

    [Test]
    public async Task Should_Scale_A_Release_Back_Through_The_Runtime()
    {
        // Given blue scaled from 1 to 2 replicas by this run
        await _journal.RecordAsync(UndoStep.RestoreReplicas("hello", "blue", "20261129100000-b1b1b1", 1));
        _engine.AddContainer("hello-blue-b1b1b1-2", new Dictionary<string, string>(ReleaseLabels("hello", "blue", "20261129100000-b1b1b1")) { [Labels.Replica] = "2" }, "pipeline");

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then the added replica went and the first one stays
        report.Done.ShouldBe(["restored hello-blue-b1b1b1 to 1 replica(s)"]);
        _engine.Removed.ShouldBe(["container hello-blue-b1b1b1-2"]);
        _engine.Existing.ShouldBe(["container hello-blue-b1b1b1"]);
    }

    // ---- Issue 9 item 6: shared things are undone only when nobody else uses them ---------------------------------

    [Test]
    public async Task Should_Keep_The_Proxy_And_Network_A_First_Deploy_Created_When_Another_Service_Uses_Them()
    {
        // Given a first deploy of "first" that created the network and the proxy and switched...
        _journal = new DeploymentJournal(_registry, "p", "first", DeployId);
        await _journal.RecordAsync(UndoStep.RemoveNetwork("shared"));
        _engine.AddNetwork("shared", new Dictionary<string, string> { [Labels.Role] = Roles.Network, [Labels.DeployId] = DeployId });
        await _journal.RecordAsync(UndoStep.RemoveContainer("first-blue-abc123"));
        var first = _engine.AddContainer("first-blue-abc123", ReleaseLabels("first", "blue", DeployId), "shared");
        await _journal.RecordAsync(UndoStep.RestoreKey("p/services/first/releases/blue", null));
        await _registry.PutAsync("p/services/first/releases/blue", Release("first", "blue", first.NetworkAddresses["shared"], first.Id));
        await _journal.RecordAsync(UndoStep.RemoveContainer("proxy-of-first"));
        _engine.AddContainer("proxy-of-first", new Dictionary<string, string> { [Labels.Role] = Roles.Proxy, [Labels.Proxy] = "haproxy", [Labels.DeployId] = DeployId }, "shared");
        await _journal.RecordAsync(UndoStep.RestoreProxy(_proxy.Live!, null));
        await _journal.RecordAsync(UndoStep.RestoreKey("p/services/first/color", null));
        await _registry.PutAsync("p/services/first/color", "blue");
        await _proxy.ApplyAsync(await RenderAsync());

        // ...and a second service that started using them meanwhile
        var second = _engine.AddContainer("second-blue-def456", ReleaseLabels("second", "blue", "20261130120500-def456"), "shared");
        await _registry.PutAsync("p/services/second/releases/blue", Release("second", "blue", second.NetworkAddresses["shared"], second.Id));
        await _registry.PutAsync("p/services/second/color", "blue");
        await _proxy.ApplyAsync(await RenderAsync());

        // When the first deploy's journal is unwound
        var report = new RollbackRunner(
            _journal,
            new RollbackScope("first", new ServiceCatalog(_registry, "p"), _engine, new ProxySwitch(_proxy, "proxy-of-first", new ServiceCatalog(_registry, "p"), "r", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), TimeProvider.System)),
            StepTimeout,
            _log.Add).RunAsync();

        // Then the shared proxy and network stay for the others (finished steps, not failures), and their routes stay
        (await report).Done.ShouldBe(
        [
            "deleted registry key p/services/first/color",
            "restored the proxy config from the registry",
            "kept the proxy container proxy-of-first: it serves hello, second",
            "deleted registry key p/services/first/releases/blue",
            "removed container first-blue-abc123",
            $"kept network shared: in use by proxy-of-first, second-blue-def456",
        ]);
        (await report).Complete.ShouldBeTrue();
        (await _journal.ReadAsync()).ShouldBeEmpty();
        _engine.Existing.ShouldContain("container proxy-of-first");
        _engine.Existing.ShouldContain("network shared");
        _proxy.Live.ShouldBe(await RenderAsync());
        _proxy.Live.ShouldNotBeNull().ShouldContain("route second blue");
        _proxy.Live!.ShouldNotContain("route first");
    }

    [Test]
    public async Task Should_Remove_The_Proxy_And_Network_A_First_Deploy_Created_When_Nobody_Else_Uses_Them()
    {
        // Given the only service, whose first deploy created the network and the proxy
        await _registry.DeletePrefixAsync("p/services/");
        _engine = new StandInEngine();
        _proxy.Live = await RenderAsync();
        await _journal.RecordAsync(UndoStep.RemoveNetwork("alone"));
        _engine.AddNetwork("alone", new Dictionary<string, string> { [Labels.Role] = Roles.Network, [Labels.DeployId] = DeployId });
        await _journal.RecordAsync(UndoStep.RemoveContainer("proxy-alone"));
        _engine.AddContainer("proxy-alone", new Dictionary<string, string> { [Labels.Role] = Roles.Proxy, [Labels.DeployId] = DeployId }, "alone");

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then both went
        report.Done.ShouldBe(["removed container proxy-alone", "removed network alone"]);
        _engine.Existing.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Remove_The_Network_Probe_The_Deploy_Started_Before_The_Network()
    {
        // Given a first deploy that created the network and started its long-lived probe
        await _journal.RecordAsync(UndoStep.RemoveNetwork("fresh"));
        _engine.AddNetwork("fresh", new Dictionary<string, string> { [Labels.Role] = Roles.Network, [Labels.DeployId] = DeployId });
        await _journal.RecordAsync(UndoStep.RemoveContainer("fresh-probe-1a2b3c"));
        _engine.AddContainer("fresh-probe-1a2b3c", new Dictionary<string, string> { [Labels.Role] = Roles.Probe, [Labels.Network] = "fresh", [Labels.DeployId] = DeployId }, "fresh");

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then the probe went, and with it the last user of the network
        report.Done.ShouldBe(["removed container fresh-probe-1a2b3c", "removed network fresh"]);
        report.Complete.ShouldBeTrue();
        _engine.Existing.ShouldBe(["container hello-blue-b1b1b1"]);
    }

    [Test]
    public async Task Should_Refuse_To_Remove_A_Network_Probe_Another_Deploy_Started()
    {
        // Given a step that names the network's probe, which an earlier deploy started
        await _journal.RecordAsync(UndoStep.RemoveContainer("pipeline-probe-9f9f9f"));
        _engine.AddContainer("pipeline-probe-9f9f9f", new Dictionary<string, string> { [Labels.Role] = Roles.Probe, [Labels.Network] = "pipeline", [Labels.DeployId] = "20261129100000-b1b1b1" }, "pipeline");

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then it stays: it is not this deploy's to remove
        _engine.Removed.ShouldBeEmpty();
        report.Refused.ShouldBe(
        [
            $"000001 remove-container (removed container pipeline-probe-9f9f9f): container pipeline-probe-9f9f9f is not one Pipeline created for hello in deploy {DeployId}: its labels say pipeline.deploy-id=20261129100000-b1b1b1, not {DeployId}",
        ]);
    }

    // ---- Issue 9 item 2(b): the journal is trusted only for what it may touch -----------------------------------

    [Test]
    public async Task Should_Refuse_To_Remove_A_Container_Not_Created_For_The_Service_By_That_Deploy()
    {
        // Given forged steps naming another service's container and hello's own live blue release
        var other = _engine.AddContainer("database", new Dictionary<string, string> { ["com.example.app"] = "db" });
        await _journal.RecordAsync(UndoStep.RemoveContainer("database"));
        await _journal.RecordAsync(UndoStep.RemoveContainer("hello-blue-b1b1b1"));

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then neither was touched: each is refused with its reason and left in the journal for a person
        _engine.Removed.ShouldBeEmpty();
        report.Refused.ShouldBe(
        [
            $"000002 remove-container (removed container hello-blue-b1b1b1): container hello-blue-b1b1b1 is not one Pipeline created for hello in deploy {DeployId}: its labels say pipeline.deploy-id=20261129100000-b1b1b1, not {DeployId}",
            $"000001 remove-container (removed container database): container database is not one Pipeline created for hello in deploy {DeployId}: its labels say pipeline.role=(none), not release; pipeline.service=(none), not hello; pipeline.deploy-id=(none), not {DeployId}",
        ]);
        report.Summary.ShouldStartWith("nothing; REFUSED (left in the journal for a person; once dealt with, clear it with --target=Rollback --skip=SEQUENCE): 000002 remove-container");
        (await _journal.ReadAsync()).Count.ShouldBe(2);
        _log.ShouldContain(l => l.StartsWith("rollback: REFUSED 000001 remove-container (removed container database): ", StringComparison.Ordinal)
            && l.EndsWith("It stays in the journal; once dealt with by hand, clear it with --target=Rollback --skip=000001.", StringComparison.Ordinal));
        other.Name.ShouldBe("database");
    }

    [Test]
    public async Task Should_Not_Remove_The_Live_Release_Even_When_A_Forged_Step_Carries_Its_Deploy_Id()
    {
        // Given a forged step that names hello's live blue release and copies its deploy id
        await _registry.PutAsync("p/journal/hello/000001", """{"kind":"remove-container","arguments":{"name":"hello-blue-b1b1b1"},"description":"removed container hello-blue-b1b1b1","deployId":"20261129100000-b1b1b1"}""");

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then blue stays: the proxy routes to it
        _engine.Removed.ShouldBeEmpty();
        report.Failed.ShouldHaveSingleItem().ShouldContain("container hello-blue-b1b1b1 was not removed: the proxy's live config still routes to it");
    }

    [Test]
    public async Task Should_Refuse_A_Step_That_Names_No_Deploy()
    {
        // Given a step without a deploy id (written by hand, or by an older Pipeline)
        _engine.AddContainer("hello-green-old", ReleaseLabels("hello", "green", "x"));
        await new DeploymentJournal(_registry, "p", "hello").RecordAsync(UndoStep.RemoveContainer("hello-green-old"));

        // When / Then
        var report = await Runner().RunAsync();
        report.Refused.ShouldBe(["000001 remove-container (removed container hello-green-old): it names no deploy id, so container hello-green-old cannot be checked against its labels (a step written by an older Pipeline, or by hand)"]);
        _engine.Removed.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Refuse_To_Remove_A_Volume_Or_Network_Pipeline_Did_Not_Create_For_The_Service()
    {
        // Given forged steps naming a foreign volume and a foreign network
        _engine.AddVolume("pgdata", new Dictionary<string, string>());
        _engine.AddNetwork("corp", new Dictionary<string, string> { [Labels.Role] = Roles.Network, [Labels.DeployId] = "someone-else" });
        await _journal.RecordAsync(UndoStep.RemoveVolume("pgdata"));
        await _journal.RecordAsync(UndoStep.RemoveNetwork("corp"));

        // When the journal is unwound
        var report = await Runner().RunAsync();

        // Then
        report.Refused.ShouldBe(
        [
            $"000002 remove-network (removed network corp): network corp is not one Pipeline created for hello in deploy {DeployId}: its labels say pipeline.deploy-id=someone-else, not {DeployId}",
            $"000001 remove-volume (removed volume pgdata): volume pgdata is not one Pipeline created for hello in deploy {DeployId}: its labels say pipeline.role=(none), not release; pipeline.service=(none), not hello; pipeline.deploy-id=(none), not {DeployId}",
        ]);
        _engine.Removed.ShouldBeEmpty();
    }

    [TestCase("p/locks/hello")]
    [TestCase("p/services/other/color")]
    [TestCase("p/services/hello")]
    [TestCase("etc/passwd")]
    public async Task Should_Refuse_To_Write_A_Key_Outside_The_Services_Own_Prefix(string key)
    {
        // Given a forged step writing a key outside p/services/hello/ (and so the unwind stops: older steps depend on keys)
        await _journal.RecordAsync(UndoStep.RemoveContainer("hello-green-abc123"));
        _engine.AddContainer("hello-green-abc123", ReleaseLabels("hello", "green", DeployId));
        await _journal.RecordAsync(UndoStep.RestoreKey(key, "blue"));
        var before = Keys();

        // When
        var report = await Runner().RunAsync();

        // Then
        report.Refused.ShouldBe([$"000002 restore-key (restored registry key {key}): registry key {key} is outside hello's own keys (p/services/hello/…)"]);
        report.StoppedBecause.ShouldBe("000002 restore-key was refused and the older steps depend on it");
        Keys().ShouldBe(before);
        _engine.Removed.ShouldBeEmpty();
    }

    [TestCase(ColorKey, "purple", "'purple' is not a colour (blue or green) to put back into p/services/hello/color")]
    [TestCase(BlueKey, "{\"service\":\"other\",\"color\":\"blue\"}", "the value to put back into p/services/hello/releases/blue is not a release of hello (blue)")]
    [TestCase(BlueKey, "not json", "the value to put back into p/services/hello/releases/blue is not a release (")]
    public async Task Should_Refuse_To_Put_Back_A_Value_That_Is_Not_The_Services(string key, string value, string reason)
    {
        // Given a forged value for one of hello's own keys
        await _journal.RecordAsync(UndoStep.RestoreKey(key, value));
        var before = Keys();

        // When / Then
        var report = await Runner().RunAsync();
        report.Refused.ShouldHaveSingleItem().ShouldContain(reason);
        Keys().ShouldBe(before);
    }

    [Test]
    public async Task Should_Refuse_A_Release_Record_Whose_Route_The_Proxy_Must_Not_Carry()
    {
        // Given a release to put back whose route would inject a directive into the proxy config
        var forged = Release("hello", "blue", "10.9.0.1", "x").Replace("\"/hello/\"", "\"/; lua-load /tmp/x\"", StringComparison.Ordinal);
        await _journal.RecordAsync(UndoStep.RestoreKey(BlueKey, forged));

        // When / Then
        var report = await Runner().RunAsync();
        report.Refused.ShouldHaveSingleItem().ShouldContain("the release to put back into p/services/hello/releases/blue has a route the proxy must not carry: Route 0 (hello): path prefix '/; lua-load /tmp/x' is not allowed in a proxy config");
    }

    [Test]
    public async Task Should_Refuse_A_Verbatim_Proxy_Config_That_Routes_To_Something_That_Is_Not_A_Release()
    {
        // Given a forged restore-proxy step whose "previous" config sends traffic elsewhere, made to look verbatim-only
        // (the live config is its "applied" one, and this run's template renders something else)
        _proxy.Template = "another template";
        var live = _proxy.Live!;
        await _journal.RecordAsync(UndoStep.RestoreProxy("# old\nroute hello blue 203.0.113.9:80\n", live + "x"));
        await _journal.RecordAsync(UndoStep.RestoreProxy("# old\nroute hello blue 203.0.113.9:80\n", live));

        // When
        var report = await Runner().RunAsync();

        // Then it was refused; the proxy still runs what it ran
        report.Refused.ShouldBe(["000002 restore-proxy (restored the proxy config from the registry): the proxy config to restore verbatim routes to 203.0.113.9, which is not the address of any release Pipeline runs"]);
        report.StoppedBecause.ShouldBe("000002 restore-proxy was refused and the older steps depend on it");
        _proxy.Live.ShouldBe(live);
        _proxy.Applied.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Send_A_Verbatim_Proxy_Config_Through_The_Proxys_Validator()
    {
        // Given a previous config to restore verbatim that the proxy's validator rejects
        _proxy.Template = "another template";
        await _journal.RecordAsync(UndoStep.RestoreProxy("# old\nreject everything\n", _proxy.Live));

        // When / Then: not applied
        var report = await Runner().RunAsync();
        report.Failed.ShouldHaveSingleItem().ShouldStartWith("restored the proxy config from the registry: haproxy rejected the rendered config:");
        _proxy.Applied.ShouldBeEmpty();
    }

    // ---- Issue 9 item 10: newer or damaged entries -----------------------------------------------------------------

    [Test]
    public async Task Should_Keep_A_Step_Of_An_Unknown_Kind_Name_It_And_Stop_There()
    {
        // Given a step a newer Pipeline wrote, newer than a removal
        await _journal.RecordAsync(UndoStep.RemoveContainer("hello-green-abc123"));
        _engine.AddContainer("hello-green-abc123", ReleaseLabels("hello", "green", DeployId));
        await _registry.PutAsync("p/journal/hello/000002", """{"kind":"scale-service","arguments":{},"description":"scaled back"}""");

        // When
        var report = await Runner().RunAsync();

        // Then it is left for a person, and nothing older ran: what it undoes may be what they depend on
        report.Refused.ShouldBe(["000002 scale-service (scaled back): this Pipeline does not know the kind 'scale-service' (written by a newer Pipeline?)"]);
        report.StoppedBecause.ShouldBe("000002 is of an unknown kind, so what the older steps depend on is unknown");
        report.StillInPlace.ShouldBe(["container hello-green-abc123"]);
        (await _journal.ReadAsync()).Count.ShouldBe(2);
        _engine.Removed.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Report_A_Damaged_Entry_And_Stop_There()
    {
        // Given an entry that is not an undo step
        await _registry.PutAsync("p/journal/hello/000001", "{\"kind\":");

        // When
        var report = await Runner().RunAsync();

        // Then
        report.Refused.ShouldHaveSingleItem().ShouldStartWith("000001 (unreadable: not an undo step (");
        report.StoppedBecause.ShouldBe("000001 cannot be read, so what the older steps depend on is unknown");
    }
}
