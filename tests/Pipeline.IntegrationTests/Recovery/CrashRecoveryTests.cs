using System.Diagnostics;
using System.Net;
using Pipeline.Locking;

namespace Pipeline.IntegrationTests.Recovery;

/// <summary>
/// A deploy killed with SIGKILL (no handler runs: no rollback, no lock release) at a chosen stage, then either
/// <c>--target=Rollback</c> or the next deploy. Production must come back to what it was before the killed run.
/// The pipeline runs as the repo's build program in its own process.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class CrashRecoveryTests
{
    /// <summary>Printed by DeployRelease once the new colour's container is up and healthy.</summary>
    public const string ReleaseHealthy = "is healthy at";

    /// <summary>Printed by SwitchProxy once the proxy answers from the new colour (before post-integration tests).</summary>
    public const string ProxySwitched = "answers from";

    /// <summary>Printed by AcquireLock once it holds the lock.</summary>
    public const string LockTaken = "Took the deploy lock";

    private const int LockTtlSeconds = 3;

    /// <summary>
    /// The dead holder's TTL when a test needs the next run to find its lock still held: longer than a run takes to
    /// start and reach the lock on a busy machine (3 s was not, once, under a load average of 16).
    /// </summary>
    private const int DeadHolderTtlSeconds = 10;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [TestCase(ReleaseHealthy)]
    [TestCase(ProxySwitched)]
    public async Task Should_Restore_Production_When_Rollback_Runs_After_A_Deploy_Was_Killed(string killedAfter)
    {
        // Given a service live in blue
        var (service, dir) = await DeployFirstVersionAsync();
        var before = await _harness.SnapshotAsync(service);

        // When the next deploy is SIGKILLed at a stage, leaving its journal, its container and its lock behind
        var killed = await StartAndKillAsync(dir, "2.0.0", killedAfter);
        var leftBehind = await _harness.SnapshotAsync(service);
        before.Diff(leftBehind).ShouldNotBeEmpty("the killed run had changed production");
        leftBehind.RegistryKeys.Keys.ShouldContain(k => k.Contains("/journal/"));

        // And --target=Rollback runs
        using var rollback = PipelineProcess.Start("Rollback", "2.0.0", PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: LockTtlSeconds));
        (await rollback.WaitForExitAsync(RunTimeout)).ShouldBe(0, rollback.Output);

        // Then production is exactly as before the killed run, and blue answers
        var after = await _harness.SnapshotAsync(service);
        before.Diff(after).ShouldBeEmpty(rollback.Output);
        rollback.Output.ShouldContain($"Rollback of {service}: ", Case.Sensitive);
        rollback.Output.ShouldContain("removed release " + service + "-green-", Case.Sensitive);
        var (status, color, body) = await _harness.GetThroughProxyAsync();
        status.ShouldBe(HttpStatusCode.OK);
        color.ShouldBe("blue");
        body.ShouldContain("1.0.0");
        (await DeploymentLock.ReadHolderAsync(_harness.Registry, _harness.KeyPrefix, service)).ShouldBeNull();
        killed.ShouldNotBe(rollback.Id);
    }

    [TestCase(ReleaseHealthy)]
    [TestCase(ProxySwitched)]
    public async Task Should_Unwind_The_Dead_Runs_Journal_First_When_The_Next_Deploy_Runs(string killedAfter)
    {
        // Given a service live in blue, and a deploy of 2.0.0 SIGKILLed at a stage
        var (service, dir) = await DeployFirstVersionAsync();
        await StartAndKillAsync(dir, "2.0.0", killedAfter);

        // When the next deploy runs
        using var next = PipelineProcess.Start("Deploy", "3.0.0", PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: LockTtlSeconds));
        (await next.WaitForExitAsync(RunTimeout)).ShouldBe(0, next.Output);

        // Then it first unwound the dead run's journal, then deployed green from blue as if 2.0.0 never happened
        var lines = next.Lines.ToList();
        var recovered = lines.FindIndex(l => l.Contains($"A previous run of {service} died mid-deploy", StringComparison.Ordinal));
        var deploying = lines.FindIndex(l => l.Contains($"{service}: live colour is blue; deploying 3.0.0 as green.", StringComparison.Ordinal));
        recovered.ShouldBeGreaterThanOrEqualTo(0, next.Output);
        deploying.ShouldBeGreaterThan(recovered, next.Output);
        lines.FindIndex(l => l.Contains("rollback: removed release " + service + "-green-", StringComparison.Ordinal)).ShouldBeInRange(recovered, deploying);

        // And only the new colour's container is left, and the registry, the proxy and the history agree
        var releases = await _harness.ReleasesAsync(service);
        releases.ShouldHaveSingleItem().Labels[Labels.Color].ShouldBe("green");
        releases[0].Labels[Labels.Version].ShouldBe("3.0.0");
        (await _harness.Catalog.GetLiveColorAsync(service)).ShouldBe("green");
        var (status, color, body) = await _harness.GetThroughProxyAsync();
        status.ShouldBe(HttpStatusCode.OK);
        color.ShouldBe("green");
        body.ShouldContain("3.0.0");
        var history = await _harness.Catalog.GetHistoryAsync(service, 10); // newest first
        history.Select(h => (h.Version, h.Color, h.PreviousColor)).ShouldBe([("3.0.0", "green", "blue"), ("1.0.0", "blue", null)]);
        (await _harness.SnapshotAsync(service)).RegistryKeys.Keys.ShouldNotContain(k => k.Contains("/journal/"));
        (await DeploymentLock.ReadHolderAsync(_harness.Registry, _harness.KeyPrefix, service)).ShouldBeNull();
    }

    [Test]
    public async Task Should_Put_Proxy_And_Its_File_Back_When_A_Deploy_Dies_Between_The_Runtime_Switch_And_The_File_Write()
    {
        // Given a service live in blue
        var (service, dir) = await DeployFirstVersionAsync();
        var before = await _harness.SnapshotAsync(service);
        var blueConfig = await _harness.Proxy.ReadLiveConfigAsync();

        // When the next deploy dies right after the proxy switched to green at runtime, before it wrote the config file
        using var run = PipelineProcess.Start(
            "Deploy",
            "2.0.0",
            PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: LockTtlSeconds),
            environment: new Dictionary<string, string> { [CrashPoints.Variable] = CrashPoints.ProxyRuntimeSwitched });
        (await run.WaitForExitAsync(RunTimeout)).ShouldNotBe(0, run.Output);
        run.Output.ShouldContain($"Crash point {CrashPoints.ProxyRuntimeSwitched} reached", Case.Sensitive);
        run.Output.ShouldNotContain("Rolling back", Case.Sensitive);

        // Then the proxy answers from green while its file still says blue
        (await _harness.GetThroughProxyAsync()).Color.ShouldBe("green");
        (await _harness.Proxy.ReadLiveConfigAsync()).ShouldBe(blueConfig);

        // When --target=Rollback runs
        using var rollback = PipelineProcess.Start("Rollback", "2.0.0", PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: LockTtlSeconds));
        (await rollback.WaitForExitAsync(RunTimeout)).ShouldBe(0, rollback.Output);

        // Then the proxy answers from blue again, its file agrees, and production is as it was
        var (status, color, body) = await _harness.GetThroughProxyAsync();
        (status, color).ShouldBe((HttpStatusCode.OK, "blue"));
        body.ShouldContain("1.0.0");
        (await _harness.Proxy.ReadLiveConfigAsync()).ShouldBe(blueConfig);
        before.Diff(await _harness.SnapshotAsync(service)).ShouldBeEmpty(rollback.Output);
    }

    [Test]
    public async Task Should_Free_The_Lock_Within_Its_Ttl_When_The_Holder_Is_Killed()
    {
        // Given a service never deployed, and a deploy SIGKILLed right after it took the lock
        var service = TestEnvironment.UniqueName("lockdead");
        var dir = _harness.CreateService(service);
        var before = await _harness.SnapshotAsync(service);
        var clock = Stopwatch.StartNew();
        using var holder = PipelineProcess.Start("Deploy", "1.0.0", PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: DeadHolderTtlSeconds), clock);
        await holder.WaitForLineAsync(LockTaken, RunTimeout);
        await holder.KillAsync();
        var killedAt = clock.Elapsed;
        (await DeploymentLock.ReadHolderAsync(_harness.Registry, _harness.KeyPrefix, service)).ShouldNotBeNull().Pid.ShouldBe(holder.Id);

        // When another run needs the lock (Rollback takes it first thing)
        using var next = PipelineProcess.Start("Rollback", "1.0.0", PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: DeadHolderTtlSeconds), clock);
        (await next.WaitForExitAsync(RunTimeout)).ShouldBe(0, next.Output);

        // Then it waited for the dead holder (named by its pid), took the lock within the TTL (+ margin) after the kill, and went on
        next.Output.ShouldContain($"{service} is being deployed by {Environment.UserName}@{Environment.MachineName} pid {holder.Id} (deploy ", Case.Sensitive);
        var taken = next.WhenPrinted(LockTaken).ShouldNotBeNull(next.Output);
        (taken - killedAt).ShouldBeLessThan(TimeSpan.FromSeconds(DeadHolderTtlSeconds + 2.5), next.Output);
        TestContext.Out.WriteLine($"lock of the killed holder taken {(taken - killedAt).TotalSeconds:0.00} s after SIGKILL (TTL {DeadHolderTtlSeconds} s)");
        next.Output.ShouldContain($"Rollback of {service}: ", Case.Sensitive);
        before.Diff(await _harness.SnapshotAsync(service)).ShouldBeEmpty(next.Output);
    }

    private async Task<(string Service, string Dir)> DeployFirstVersionAsync()
    {
        var service = TestEnvironment.UniqueName("crash");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        return (service, dir);
    }

    /// <summary>Starts a deploy, SIGKILLs it once it printed <paramref name="killedAfter"/>; returns its pid.</summary>
    private async Task<int> StartAndKillAsync(string dir, string version, string killedAfter)
    {
        using var run = PipelineProcess.Start("Deploy", version, PipelineProcess.IsolatedArguments(_harness, dir, lockTtlSeconds: LockTtlSeconds));
        await run.WaitForLineAsync(killedAfter, RunTimeout);
        await run.KillAsync();
        run.Output.ShouldNotContain("Rolling back", Case.Sensitive, customMessage: "the run must die before any handler runs");
        return run.Id;
    }
}
