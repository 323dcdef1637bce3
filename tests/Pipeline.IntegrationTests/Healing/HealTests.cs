using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Healing;
using Pipeline.History;
using Pipeline.Locking;
using Pipeline.Proxy;
using Pipeline.Provisioning;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Healing;

/// <summary><c>--target=Heal</c> on the containers runtime, against the real engine, etcd and HAProxy, with load through the proxy.</summary>
[NonParallelizable]
public sealed class HealTests
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_Replace_A_Killed_Replica_In_One_Pass_While_The_Proxy_Keeps_Answering()
    {
        // Given a live release with two replicas, under steady load through the proxy
        var (service, options) = await DeployAsync("killed", replicas: 2);
        var killed = (await _harness.ReleasesAsync(service)).OrderBy(c => c.Name).Last();
        var load = ProxyLoad.Start(_harness.ProxyUrl);
        try
        {
            // When one replica is killed with SIGKILL and one Heal pass runs
            await DockerAsync("kill", killed.Name);
            PipelineHarness.Run(options, "Heal").ShouldBe(0);

            // Then a new replica serves in its place: two run, both registered, the proxy routes to the new one
            var running = await ServingReplicasAsync(service, 2);
            running.ShouldNotContain(c => c.Id == killed.Id);
            (await _harness.Engine.InspectContainerAsync(killed.Id)).ShouldBeNull("the killed replica is removed");
            var fresh = running.Single(c => c.Labels.ContainsKey(Labels.HealedBy));
            var config = (await _harness.Proxy.ReadLiveConfigAsync()).ShouldNotBeNull();
            ProxyConfigAddresses.RoutesTo(config, [fresh.NetworkAddresses[_harness.Network]]).ShouldBeTrue();

            // And the requests through the proxy kept being answered
            await WaitForMoreAnswersAsync(load);
        }
        finally
        {
            await load.DisposeAsync();
        }

        // (HAProxy retries a connection the dead replica refuses, not a request it was serving when killed: that one may fail)
        load.Failures.Count.ShouldBeLessThanOrEqualTo(1, string.Join("; ", load.Failures));
        load.Answered.ShouldBeGreaterThan(0);
        var heal = (await new ServiceHistory(_harness.Catalog).ReadAsync(service, 10)).First(r => r.Kind == HistoryKinds.Heal);
        heal.Outcome.ShouldBe(HistoryOutcomes.Healed);
        heal.Summary.ShouldNotBeNull().ShouldContain($"replaced {killed.Name}");
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/journal/{service}/")).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Replace_A_Replica_Only_After_Its_Health_Path_Failed_The_Threshold_Of_Checks()
    {
        // Given a live release with two replicas under steady load through the proxy, one of which stops answering its
        // health path
        var (service, options) = await DeployAsync("sick", replicas: 2, failures: 2);
        var sick = (await _harness.ReleasesAsync(service)).OrderBy(c => c.Name).Last();
        (await _harness.Engine.ExecAsync(sick.Id, ["rm", "/www/health"])).ExitCode.ShouldBe(0);
        var load = ProxyLoad.Start(_harness.ProxyUrl);
        try
        {
            // When one Heal pass runs (one failure, the threshold is two)
            PipelineHarness.Run(options, "Heal").ShouldBe(0);

            // Then it is only counted: it still runs and its failure is kept for the next pass
            (await _harness.Engine.InspectContainerAsync(sick.Id)).ShouldNotBeNull().IsRunning.ShouldBeTrue();
            var ledger = new HealthLedger(_harness.Registry, _harness.KeyPrefix, service);
            (await ledger.ReadInstancesAsync())[sick.Name].Failures.ShouldBe(1);

            // When the next pass finds it failing again
            PipelineHarness.Run(options, "Heal").ShouldBe(0);

            // Then it is replaced by a copy that answers, and its count is forgotten
            (await _harness.Engine.InspectContainerAsync(sick.Id)).ShouldBeNull();
            var running = await ServingReplicasAsync(service, 2);
            running.Count(c => c.Labels.ContainsKey(Labels.HealedBy)).ShouldBe(1);
            (await ledger.ReadInstancesAsync()).ShouldBeEmpty();
            await WaitForMoreAnswersAsync(load);
        }
        finally
        {
            await load.DisposeAsync();
        }

        // And the requests through the proxy kept being answered: the sick replica served until its copy did
        load.Failures.Count.ShouldBeLessThanOrEqualTo(1, string.Join("; ", load.Failures));
    }

    [Test]
    public async Task Should_Stop_Replacing_And_Say_The_Release_Is_Broken_When_Every_Replacement_Crashes()
    {
        // Given a release of two replicas whose containers crash on every start from now on (a marker on their shared
        // volume), one replica killed, and steady load through the proxy
        var (service, options) = await DeployAsync("broken", replicas: 2, crashOnMarker: true);
        options = options with { Healing = options.Healing with { Backoff = TimeSpan.Zero, MaxReplacements = 2 } };
        var replicas = (await _harness.ReleasesAsync(service)).OrderBy(c => c.Name).ToList();
        var (survivor, killed) = (replicas[0], replicas[1]);
        (await _harness.Engine.ExecAsync(survivor.Id, ["touch", "/data/broken"])).ExitCode.ShouldBe(0);
        await DockerAsync("kill", killed.Name);
        var load = ProxyLoad.Start(_harness.ProxyUrl);
        List<int> exits;
        try
        {
            // When Heal runs three passes
            exits = Enumerable.Range(0, 3).Select(_ => PipelineHarness.Run(options, "Heal")).ToList();
            await WaitForMoreAnswersAsync(load);
        }
        finally
        {
            await load.DisposeAsync();
        }

        // Then the first two each try one replacement, which crashes and is undone; the third says the release is broken
        // and tries none, but stops routing to the dead replica
        exits.ShouldBe([1, 1, 3]);
        var heals = (await new ServiceHistory(_harness.Catalog).ReadAsync(service, 20)).Where(r => r.Kind == HistoryKinds.Heal).ToList();
        var history = string.Join(" / ", heals.Select(h => $"{h.Outcome}: {h.Summary}"));
        heals.Count(h => h.Outcome == HistoryOutcomes.RolledBack).ShouldBe(2, history);
        heals.Where(h => h.Outcome == HistoryOutcomes.RolledBack).ShouldAllBe(h => h.Summary!.Contains("stopped ("));
        heals.Where(h => h.Outcome != HistoryOutcomes.RolledBack).ShouldHaveSingleItem(history).Summary.ShouldNotBeNull().ShouldContain("stopped routing");
        var record = (await _harness.Catalog.GetReleaseAsync(service, "blue")).ShouldNotBeNull();
        record.AllEndpoints.Select(e => e.Address).ShouldBe([survivor.NetworkAddresses[_harness.Network]]);

        // And the proxy never sent the load to a crashing replacement: the surviving replica answered throughout
        load.Failures.Count.ShouldBeLessThanOrEqualTo(1, string.Join("; ", load.Failures));
        (await _harness.Engine.InspectContainerAsync(survivor.Id)).ShouldNotBeNull().IsRunning.ShouldBeTrue();

        // And nothing of the replacements is left; the journal is empty; the registry still names the release
        (await _harness.ReleasesAsync(service)).Select(c => c.Id).Order().ShouldBe(replicas.Select(c => c.Id).Order());
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/journal/{service}/")).ShouldBeEmpty();
        var replacements = (await new HealthLedger(_harness.Registry, _harness.KeyPrefix, service).ReadReplacementsAsync()).ShouldNotBeNull();
        replacements.Attempts.Count.ShouldBe(2);
    }

    [Test]
    public async Task Should_Skip_And_Change_Nothing_While_A_Deploy_Holds_The_Lock()
    {
        // Given a live release whose replica was killed, and a deploy that holds the service's lock
        var (service, options) = await DeployAsync("locked", replicas: 1);
        var replica = (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem();
        await DockerAsync("kill", replica.Name);
        var before = await _harness.SnapshotAsync(service);
        await using var deploy = await DeploymentLock.AcquireAsync(
            _harness.Registry, _harness.KeyPrefix, LockHolder.ForThisProcess(service, "a-deploy", TimeSpan.FromSeconds(30)), TimeSpan.FromSeconds(30), TimeSpan.Zero);

        // When a Heal pass runs
        PipelineHarness.Run(options, "Heal").ShouldBe(0);

        // Then it skipped: nothing changed, nothing recorded
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
        (await new ServiceHistory(_harness.Catalog).ReadAsync(service, 10)).ShouldNotContain(r => r.Kind == HistoryKinds.Heal);
    }

    private async Task<(string Service, DeploymentOptions Options)> DeployAsync(string name, int replicas, int failures = 3, bool crashOnMarker = false)
    {
        var service = TestEnvironment.UniqueName(name);
        var dir = _harness.CreateService(service);
        if (crashOnMarker)
        {
            var serve = Path.Combine(dir, "serve.sh");
            File.WriteAllText(serve, File.ReadAllText(serve).Replace(
                "set -eu\n", "set -eu\n[ -e /data/broken ] && { echo \"crashing on purpose: /data/broken exists\"; exit 3; }\n", StringComparison.Ordinal));
        }

        var options = _harness.OptionsFor(dir, "1.0.0") with
        {
            Replicas = replicas,
            Volumes = crashOnMarker ? [new VolumeMount("data", "/data")] : [],
            HealthTimeout = TimeSpan.FromSeconds(20),
            Healing = new HealingOptions { FailureThreshold = failures },
        };
        PipelineHarness.Run(options).ShouldBe(0);
        return (service, options);
    }

    private async Task<IReadOnlyList<ContainerInfo>> ServingReplicasAsync(string service, int count)
    {
        var running = (await _harness.ReleasesAsync(service)).Where(c => c.IsRunning).ToList();
        running.Count.ShouldBe(count);
        var record = (await _harness.Catalog.GetReleaseAsync(service, "blue")).ShouldNotBeNull();
        record.AllEndpoints.Select(e => e.Address).Order().ShouldBe(running.Select(c => c.NetworkAddresses[_harness.Network]).Order());
        record.DesiredReplicas.ShouldBe(count);
        return running;
    }

    private static async Task WaitForMoreAnswersAsync(ProxyLoad load)
    {
        var seen = load.Answered;
        for (var i = 0; i < 100 && load.Answered < seen + 20; i++)
        {
            await Task.Delay(100);
        }

        load.Answered.ShouldBeGreaterThanOrEqualTo(seen + 20, "the proxy answers after the heal");
    }

    private static async Task DockerAsync(params string[] arguments)
    {
        var result = await new ProcessCommandRunner().RunAsync("docker", arguments);
        result.ExitCode.ShouldBe(0, result.Output);
    }
}
