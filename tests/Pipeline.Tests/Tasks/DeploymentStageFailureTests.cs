using Cake.Core;
using Cake.Core.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Registry;
using Pipeline.Tasks;
using Pipeline.Tests.Frosting;
using Pipeline.Testing.Support;
using Pipeline.Tests.Support;

namespace Pipeline.Tests.Tasks;

/// <summary>
/// The stage failure handler (<see cref="DeploymentStage"/>'s OnErrorAsync), run by the real host on an in-memory
/// registry and an engine that only records removals: what it rolls back, what it says, and that it always lets the lock go.
/// </summary>
[NonParallelizable]
public sealed class DeploymentStageFailureTests
{
    private const string ColorKey = "p/services/hello/color";
    private const string LockKey = "p/locks/hello";
    private string _serviceDir = null!;
    private InMemoryRegistry _registry = null!;
    private RemovalsOnlyEngine _engine = null!;

    [SetUp]
    public async Task CreateServiceLiveInBlue()
    {
        _serviceDir = Path.Combine(Path.GetTempPath(), "pipeline-stage-" + Guid.NewGuid().ToString("N")[..8], "hello");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
        _registry = new InMemoryRegistry();
        _engine = new RemovalsOnlyEngine();
        await _registry.PutAsync(ColorKey, "blue");
    }

    [TearDown]
    public void RemoveServiceFolder()
    {
        Directory.Delete(Path.GetDirectoryName(_serviceDir)!, recursive: true);
        _registry.Dispose();
    }

    [Test]
    public void Should_Roll_Back_Newest_First_And_Say_What_Failed_And_What_Was_Restored()
    {
        // Given a run that took the lock and changed production, then failed in a later stage
        // When it runs
        var (exitCode, log) = Run<FailsAfterChanges>();

        // Then the changes were undone, the run failed naming the stage, the cause and what was restored, and the lock is free
        exitCode.ShouldBe(1);
        log.Error.ShouldBe("FailsAfterChanges failed: the tests exited with 7\nRolled back: restored registry key p/services/hello/color, removed container hello-green-1.");
        log.Lines.ShouldContain("FailsAfterChanges failed: the tests exited with 7. Rolling back.");
        log.Lines.ShouldContain("rollback: removed container hello-green-1");
        _engine.Removed.ShouldBe(["container hello-green-1"]);
        _registry.Snapshot().ShouldBe(new Dictionary<string, string> { [ColorKey] = "blue" });
    }

    [Test]
    public async Task Should_Change_Nothing_And_Leave_Another_Runs_Journal_When_It_Fails_Before_Taking_The_Lock()
    {
        // Given a journal left by another run of the service
        await new DeploymentJournal(_registry, "p", "hello").RecordAsync(UndoStep.RemoveContainer("hello-green-other"));
        var before = _registry.Snapshot();

        // When a stage before AcquireLock fails
        var (exitCode, log) = Run<FailsBeforeTheLock>();

        // Then nothing was undone: that journal is not this run's
        exitCode.ShouldBe(1);
        log.Error.ShouldBe("FailsBeforeTheLock failed: the image did not build\nNothing in production was changed.");
        log.Lines.ShouldContain("FailsBeforeTheLock failed: the image did not build. Nothing in production was changed (this run had not taken the deploy lock).");
        log.Lines.ShouldNotContain(l => l.Contains("Rolling back", StringComparison.Ordinal));
        _engine.Removed.ShouldBeEmpty();
        _registry.Snapshot().ShouldBe(before);
    }

    [Test]
    public void Should_Roll_Nothing_Back_And_Say_So_When_It_Fails_After_The_Commit_Point()
    {
        // Given a run that committed (journal cleared) and then failed
        // When it runs
        var (exitCode, log) = Run<FailsAfterTheCommit>();

        // Then the new colour stays, the log says the deploy is committed instead of "Rolling back.", and the lock is free
        exitCode.ShouldBe(1);
        log.Error.ShouldBe("FailsAfterTheCommit failed: the old release could not be removed\nRolled back: nothing to undo.");
        log.Lines.ShouldContain("FailsAfterTheCommit failed: the old release could not be removed. The deploy is committed: the new release stays live and nothing is rolled back.");
        log.Lines.ShouldNotContain(l => l.Contains("Rolling back", StringComparison.Ordinal) || l.StartsWith("rollback: ", StringComparison.Ordinal));
        _engine.Removed.ShouldBeEmpty();
        _registry.Snapshot().ShouldBe(new Dictionary<string, string> { [ColorKey] = "green" });
    }

    [Test]
    public async Task Should_Keep_The_Journal_And_Say_How_To_Retry_When_The_Rollback_Cannot_Read_It()
    {
        // Given a registry that stops listing the journal once the run switched the colour
        _registry.Refuse = operation => operation == "list keys under 'p/journal/hello/'" && _registry.Snapshot()[ColorKey] == "green";

        // When the run fails
        var (exitCode, log) = Run<FailsAfterChanges>();

        // Then the message says the rollback failed too and how to retry; the journal is kept, the lock is free
        exitCode.ShouldBe(1);
        log.Error.ShouldBe(
            "FailsAfterChanges failed: the tests exited with 7\n" +
            "The rollback failed too: Could not reach the in-memory registry memory to list keys under 'p/journal/hello/': it was told to refuse.\n" +
            "The journal is kept: run --target=Rollback to retry.");
        _registry.Refuse = null;
        (await new DeploymentJournal(_registry, "p", "hello").ReadAsync()).Count.ShouldBe(2);
        _registry.Snapshot().ShouldNotContainKey(LockKey);
    }

    [Test]
    public void Should_Release_The_Lock_After_The_Rollback()
    {
        // Given a lock the run checks it holds until its rollback is over
        // When it fails
        var (_, log) = Run<FailsAfterChanges>();

        // Then the lock was released after the rollback, never before
        var rolledBack = log.Lines.ToList().FindIndex(l => l.StartsWith("rollback: removed container", StringComparison.Ordinal));
        var released = log.Lines.ToList().FindIndex(l => l.StartsWith($"Released the deploy lock {LockKey} ", StringComparison.Ordinal));
        rolledBack.ShouldBeGreaterThanOrEqualTo(0);
        released.ShouldBeGreaterThan(rolledBack);
        _registry.Snapshot().ShouldNotContainKey(LockKey);
    }

    private (int ExitCode, RecordingLog Log) Run<TTarget>()
        where TTarget : IFrostingTask
    {
        var log = new RecordingLog();
        var options = new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0", KeyPrefix = "p" };
        var result = FrostingHarness.Run(
            new Frosting.Journal(),
            [typeof(ChangesProduction), typeof(FailsAfterChanges), typeof(FailsBeforeTheLock), typeof(FailsAfterTheCommit)],
            host => host
                .UseContext<InMemoryDeploymentContext>()
                .ConfigureServices(services =>
                {
                    services.AddSingleton(options);
                    services.AddSingleton(_registry);
                    services.AddSingleton(_engine);
                    services.AddSingleton<ICakeLog>(log);
                }),
            $"--target={typeof(TTarget).Name}");
        return (result.ExitCode, log);
    }

    /// <summary>The real context, on the in-memory registry and the removals-only engine.</summary>
    private sealed class InMemoryDeploymentContext(ICakeContext context, DeploymentOptions options, InMemoryRegistry registry, RemovalsOnlyEngine engine)
        : DeploymentContext(context, options)
    {
        protected override IServiceRegistry CreateServiceRegistry() => registry.Connect();

        protected override IDockerEngine CreateEngine(DockerEndpoint endpoint) => engine;
    }

    /// <summary>Takes the lock and changes production the way stages do: each undo recorded before its change.</summary>
    [TaskName("ChangesProduction")]
    private sealed class ChangesProduction : DeploymentStage
    {
        protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
        {
            await context.DeployLock.AcquireAsync(ct);
            await context.Journal.RecordAsync(UndoStep.RemoveContainer("hello-green-1"), ct);
            await context.Journal.RecordAsync(UndoStep.RestoreKey(ColorKey, "blue"), ct);
            await context.ServiceRegistry.PutAsync(ColorKey, "green", null, ct);
        }
    }

    [TaskName("FailsAfterChanges")]
    [IsDependentOn(typeof(ChangesProduction))]
    private sealed class FailsAfterChanges : DeploymentStage
    {
        protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct) =>
            throw new InvalidOperationException("the tests exited with 7");
    }

    [TaskName("FailsBeforeTheLock")]
    private sealed class FailsBeforeTheLock : DeploymentStage
    {
        protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct) =>
            throw new InvalidOperationException("the image did not build");
    }

    /// <summary>Commits as RetireOldRelease does (journal cleared, <see cref="DeploymentState.Committed"/>), then fails.</summary>
    [TaskName("FailsAfterTheCommit")]
    [IsDependentOn(typeof(ChangesProduction))]
    private sealed class FailsAfterTheCommit : DeploymentStage
    {
        protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
        {
            await context.Journal.ClearAsync(ct);
            context.State.Committed = true;
            throw new InvalidOperationException("the old release could not be removed");
        }
    }
}
