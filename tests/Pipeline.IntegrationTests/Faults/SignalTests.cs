using System.Net;
using Pipeline.IntegrationTests.Recovery;
using Pipeline.Locking;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Faults;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM sent to the build program while it deploys and while it rolls back: the deploy is
/// stopped and rolled back; a rollback in progress runs to the end (undo steps have their own timeouts, never the
/// run's). Either way production is as before the run, the journal empty and the lock free.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SignalTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(180);
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [TestCase("INT")]
    [TestCase("TERM")]
    public async Task Should_Stop_And_Roll_Back_When_Signalled_During_A_Deploy(string signal)
    {
        // Given a service live in blue
        var (service, dir) = await LiveInBlueAsync();
        var before = await _harness.SnapshotAsync(service);

        // When the next deploy is signalled while its post-integration tests run (they wait, so the signal cannot
        // arrive after the commit point on a slow machine), the proxy already answering from the new colour
        ExampleService.RunFirstInTests(dir, "[ \"$TEST_TYPE\" = post-integration ] && { echo 'post-integration waits for the signal'; sleep 120; }");
        using var run = PipelineProcess.Start("Deploy", "2.0.0", PipelineProcess.IsolatedArguments(_harness, dir));
        await run.WaitForLineAsync("post-integration waits for the signal", RunTimeout);
        run.Signal(signal);

        // Then it stopped where it was, rolled everything back and failed
        (await run.WaitForExitAsync(RunTimeout)).ShouldNotBe(0, run.Output);
        run.Output.ShouldMatch(@"PostIntegrationTests was cancelled\.? Rolling back\.", run.Output);
        run.Output.ShouldContain($"Rolled back: restored registry key {_harness.Catalog.ColorKey(service)}, restored the proxy config from the registry, deleted registry key {_harness.Catalog.ReleaseKey(service, "green")}, removed release {service}-green-", Case.Sensitive, run.Output);
        await ShouldBeAsBeforeAsync(service, before, run.Output);
    }

    [TestCase("INT")]
    [TestCase("TERM")]
    public async Task Should_Finish_The_Rollback_When_Signalled_During_It(string signal)
    {
        // Given a service live in blue, and a next version whose post-integration tests fail
        var (service, dir) = await LiveInBlueAsync();
        var failing = _harness.CreateService($"{service}-failing", TestType.PostIntegration.ToContractName());
        var before = await _harness.SnapshotAsync(service);

        // When it is signalled as soon as its rollback has undone its first step
        using var run = PipelineProcess.Start("Deploy", "2.0.0", PipelineProcess.IsolatedArguments(_harness, failing, service));
        await run.WaitForLineAsync("rollback: ", RunTimeout);
        run.Signal(signal);

        // Then the rollback still ran every step, and the run failed for its tests
        (await run.WaitForExitAsync(RunTimeout)).ShouldNotBe(0, run.Output);
        run.Output.ShouldContain("PostIntegrationTests failed: post-integration tests for ", Case.Sensitive, run.Output);
        run.Output.ShouldContain($"Rolled back: restored registry key {_harness.Catalog.ColorKey(service)}, restored the proxy config from the registry, deleted registry key {_harness.Catalog.ReleaseKey(service, "green")}, removed release {service}-green-", Case.Sensitive, run.Output);
        run.Output.ShouldNotContain("FAILED to undo", Case.Sensitive, run.Output);
        await ShouldBeAsBeforeAsync(service, before, run.Output);
    }

    private async Task<(string Service, string Dir)> LiveInBlueAsync()
    {
        var service = TestEnvironment.UniqueName("signal");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        return (service, dir);
    }

    private async Task ShouldBeAsBeforeAsync(string service, Pipeline.Snapshots.ProductionSnapshot before, string output)
    {
        before.Diff(await _harness.SnapshotAsync(service)).ShouldBeEmpty(output);
        var (status, color, body) = await _harness.GetThroughProxyAsync();
        (status, color).ShouldBe((HttpStatusCode.OK, "blue"));
        body.ShouldContain("1.0.0");
        (await DeploymentLock.ReadHolderAsync(_harness.Registry, _harness.KeyPrefix, service)).ShouldBeNull();
    }
}
