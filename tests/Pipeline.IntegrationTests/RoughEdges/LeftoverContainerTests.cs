using Pipeline.IntegrationTests.Recovery;

namespace Pipeline.IntegrationTests.RoughEdges;

/// <summary>
/// Nothing a run creates outlives it: a deploy SIGKILLed at each stage (its test containers still running, its journal
/// and lock left behind), then <c>--target=Rollback</c> or the next deploy; no container of the service may be left.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class LeftoverContainerTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [TestCase("PreDeploymentTests", "pre-deployment", "[pre-deployment] slow on purpose")]
    [TestCase("BuildImage", null, "[build] sending build context")]
    [TestCase("PushImage", null, "[push] ")]
    [TestCase("AcquireLock", null, CrashRecoveryTests.LockTaken)]
    [TestCase("DeployRelease", null, "deploying 1.0.0 as blue")]
    [TestCase("RegisterRelease", null, CrashRecoveryTests.ReleaseHealthy)]
    [TestCase("PreIntegrationTests", "pre-integration", "[pre-integration] slow on purpose")]
    [TestCase("SwitchProxy", null, CrashRecoveryTests.ProxySwitched)]
    [TestCase("PostIntegrationTests", "post-integration", "[post-integration] slow on purpose")]
    public async Task Should_Leave_No_Container_When_Rollback_Runs_After_A_Deploy_Killed_In(string stage, string? slowAt, string killWhen)
    {
        // Given a first deploy of a service SIGKILLed in the stage (its tests made slow there, so their container runs)
        var service = TestEnvironment.UniqueName("left");
        var dir = CreateService(service, slowAt);
        using (var killed = PipelineProcess.Start("Deploy", "1.0.0", PipelineProcess.IsolatedArguments(_harness, dir)))
        {
            await killed.WaitForLineAsync(killWhen, RunTimeout);
            await killed.KillAsync();
            TestContext.Out.WriteLine($"killed in {stage}; it had printed:\n{killed.Output}");
        }

        // When --target=Rollback runs
        using var rollback = PipelineProcess.Start("Rollback", "1.0.0", PipelineProcess.IsolatedArguments(_harness, dir));
        (await rollback.WaitForExitAsync(RunTimeout)).ShouldBe(0, rollback.Output);

        // Then no container of the service is left: no release, no test container
        (await _harness.Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Service] = service }))
            .Select(c => $"{c.Name} ({c.Labels.GetValueOrDefault(Labels.Role)}, {c.State})").ShouldBeEmpty(rollback.Output);
        if (slowAt is not null)
        {
            rollback.Output.ShouldContain($"Cleanup: removed test container {service}-{slowAt}-tests-");
        }
    }

    [Test]
    public async Task Should_Remove_The_Test_Container_Of_A_Run_Killed_In_Its_Tests_When_The_Next_Deploy_Runs()
    {
        // Given a deploy SIGKILLed while its pre-deployment tests run (before it took the lock: no journal, no lock)
        var service = TestEnvironment.UniqueName("leftnext");
        var slow = CreateService(service, "pre-deployment");
        using (var killed = PipelineProcess.Start("Deploy", "1.0.0", PipelineProcess.IsolatedArguments(_harness, slow)))
        {
            await killed.WaitForLineAsync("[pre-deployment] slow on purpose", RunTimeout);
            await killed.KillAsync();
        }

        (await TestContainersAsync(service)).ShouldHaveSingleItem();

        // When the next deploy runs
        var dir = _harness.CreateService(service + "-fixed");
        using var next = PipelineProcess.Start("Deploy", "2.0.0", PipelineProcess.IsolatedArguments(_harness, dir, service));
        (await next.WaitForExitAsync(RunTimeout)).ShouldBe(0, next.Output);

        // Then it removed the dead run's test container first thing, and only its own release is left
        next.Output.ShouldContain($"Cleanup: removed test container {service}-pre-deployment-tests-");
        (await TestContainersAsync(service)).ShouldBeEmpty();
        (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem().Labels[Labels.Version].ShouldBe("2.0.0");
    }

    [Test]
    public async Task Should_Not_Touch_The_Test_Container_Of_A_Run_That_Is_Alive()
    {
        // Given a deploy whose pre-deployment tests are running (slowly)
        var service = TestEnvironment.UniqueName("leftalive");
        var slow = CreateService(service, "pre-deployment");
        using var alive = PipelineProcess.Start("Deploy", "1.0.0", PipelineProcess.IsolatedArguments(_harness, slow));
        await alive.WaitForLineAsync("[pre-deployment] slow on purpose", RunTimeout);

        // When --target=Rollback runs meanwhile
        using var rollback = PipelineProcess.Start("Rollback", "1.0.0", PipelineProcess.IsolatedArguments(_harness, slow));
        (await rollback.WaitForExitAsync(RunTimeout)).ShouldBe(0, rollback.Output);

        // Then the live run's test container is still there
        rollback.Output.ShouldNotContain("Cleanup: removed test container");
        (await TestContainersAsync(service)).ShouldHaveSingleItem().State.ShouldBe("running");
        await alive.KillAsync();
        foreach (var container in await TestContainersAsync(service))
        {
            await _harness.Engine.RemoveContainerAsync(container.Id);
        }
    }

    private Task<IReadOnlyList<Pipeline.Docker.ContainerInfo>> TestContainersAsync(string service) =>
        _harness.Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Service] = service, [Labels.Role] = Roles.Test });

    /// <summary>A copy of examples/hello whose tests of <paramref name="slowAt"/> (a TEST_TYPE) say so and sleep a minute first.</summary>
    private string CreateService(string service, string? slowAt)
    {
        var dir = _harness.CreateService(service);
        if (slowAt is not null)
        {
            ExampleService.RunFirstInTests(dir, $"[ \"$TEST_TYPE\" = \"{slowAt}\" ] && {{ echo \"slow on purpose\"; sleep 60; }}");
        }

        return dir;
    }
}
