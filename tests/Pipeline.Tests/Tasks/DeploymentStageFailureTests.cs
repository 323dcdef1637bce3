using Cake.Core;
using Cake.Core.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Locking;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Tasks;
using Pipeline.Tests.Frosting;
using Pipeline.Testing.Support;
using Pipeline.Tests.Support;

namespace Pipeline.Tests.Tasks;

/// <summary>
/// The stage failure handler (<see cref="DeploymentStage"/>'s OnErrorAsync), run by the real host on an in-memory
/// registry and a stand-in engine: what it rolls back, what it says, and that it always lets the lock go.
/// </summary>
[NonParallelizable]
public sealed class DeploymentStageFailureTests
{
    private const string ColorKey = "p/services/hello/color";
    private const string LockKey = "p/locks/hello";
    private string _serviceDir = null!;
    private InMemoryRegistry _registry = null!;
    private StandInEngine _engine = null!;

    [SetUp]
    public async Task CreateServiceLiveInBlue()
    {
        _serviceDir = Path.Combine(Path.GetTempPath(), "pipeline-stage-" + Guid.NewGuid().ToString("N")[..8], "hello");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
        _registry = new InMemoryRegistry();
        _engine = new StandInEngine();
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
        var keys = _registry.Snapshot();
        keys.Where(k => !k.Key.StartsWith("p/operations/", StringComparison.Ordinal)).ShouldBe(new Dictionary<string, string> { [ColorKey] = "blue" });

        // And the rollback is in the service's history (outside its keys)
        var history = keys.Where(k => k.Key.StartsWith("p/operations/hello/", StringComparison.Ordinal)).ShouldHaveSingleItem().Value;
        history.ShouldContain("\"kind\":\"rollback\"");
        history.ShouldContain("\"outcome\":\"rolled-back\"");
        history.ShouldContain("\"stage\":\"FailsAfterChanges\"");
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

    [Test]
    public async Task Should_List_The_Stuck_Steps_And_Clear_One_Only_When_Told_Recording_Who_Did_It()
    {
        // Given a dead run's journal: a removal, and newer than it a step of a kind this Pipeline does not know
        var journal = new DeploymentJournal(_registry, "p", "hello", "20261130120000-dead00");
        await journal.RecordAsync(UndoStep.RemoveContainer("hello-green-dead00"));
        _engine.AddContainer("hello-green-dead00", new Dictionary<string, string>
        {
            [Labels.Service] = "hello", [Labels.Role] = Roles.Release, [Labels.DeployId] = "20261130120000-dead00",
        });
        await _registry.PutAsync("p/journal/hello/000002", """{"kind":"scale-service","arguments":{},"description":"scaled back"}""");

        // When --target=Rollback runs
        var (exitCode, log) = Run("Rollback");

        // Then it refuses the unknown step, stops there, and lists what the journal still holds
        exitCode.ShouldBe(1);
        log.Error.ShouldBe(
            "Rollback of hello is incomplete: nothing; REFUSED (left in the journal for a person; once dealt with, clear it with --target=Rollback --skip=SEQUENCE): " +
            "000002 scale-service (scaled back): this Pipeline does not know the kind 'scale-service' (written by a newer Pipeline?); " +
            "the unwind stopped there (000002 is of an unknown kind, so what the older steps depend on is unknown), so these are still in place: container hello-green-dead00\n" +
            "The journal still holds: 000001 remove-container (removed container hello-green-dead00); 000002 scale-service (scaled back).");
        _engine.Removed.ShouldBeEmpty();

        // And when an operator skips it
        var (skipped, skipLog) = Run("Rollback", "--skip=000002");

        // Then it is cleared without running, who did it is recorded, and the rest of the journal is unwound
        skipped.ShouldBe(0, skipLog.Error);
        skipLog.Lines.ShouldContain($"Skipped 000002 scale-service (scaled back) without running it, as asked by {Environment.UserName}@{Environment.MachineName}; recorded under p/audit/hello/.");
        skipLog.Lines.ShouldContain("Rollback of hello: removed container hello-green-dead00.");
        _engine.Removed.ShouldBe(["container hello-green-dead00"]);
        (await journal.ReadAsync()).ShouldBeEmpty();
        var audit = _registry.Snapshot().Where(k => k.Key.StartsWith("p/audit/hello/", StringComparison.Ordinal)).ShouldHaveSingleItem().Value;
        audit.ShouldContain("\"action\":\"skip-undo-step\",\"key\":\"p/journal/hello/000002\"");
        audit.ShouldContain($"\"user\":\"{Environment.UserName}\",\"host\":\"{Environment.MachineName}\",\"pid\":{Environment.ProcessId}");
    }

    [Test]
    public async Task Should_Stop_Touch_Nothing_More_And_Roll_Nothing_Back_When_Another_Run_Took_The_Lock()
    {
        // Given a run that changed production, lost its lock to another run (which changed the colour), then writes again
        // When it runs
        var (exitCode, log) = Run<WritesAfterLosingTheLock>();

        // Then its write was refused, it rolled nothing back (the other run's colour and lock stay), and its journal is
        // left for the next holder
        exitCode.ShouldBe(1);
        log.Error.ShouldNotBeNull().ShouldStartWith("WritesAfterLosingTheLock was stopped: The deploy lock of hello was lost: in-memory registry memory refused to put 'p/services/hello/color' because p/locks/hello is no longer bound to this run's lease ");
        log.Error.ShouldEndWith(
            "\nNothing more was changed: this run lost its deploy lock, so it rolls nothing back. " +
            "Its journal stays for whoever holds the lock next (the next deploy or --target=Rollback unwinds it).");
        log.Lines.ShouldNotContain(l => l.StartsWith("rollback: ", StringComparison.Ordinal));
        _engine.Removed.ShouldBeEmpty();
        _registry.Snapshot()[ColorKey].ShouldBe("changed by the other run");
        _registry.Snapshot()[LockKey].ShouldContain("\"deployId\":\"the-other-run\"");
        (await new DeploymentJournal(_registry, "p", "hello").ReadAsync()).Count.ShouldBe(2);
    }

    [Test]
    public void Should_Refuse_To_Run_A_Stage_That_Needs_The_Lock_Alone_With_Exclusive()
    {
        // Given a stage that runs after AcquireLock, run alone: --exclusive skips its dependencies, AcquireLock included
        // When
        var (exitCode, log) = Run("ChangesAfterTheLock", "--exclusive");

        // Then it changed nothing: no journal, no network, nothing on the engine
        exitCode.ShouldBe(1);
        log.Error.ShouldBe(
            "ChangesAfterTheLock failed: ChangesAfterTheLock changes production and needs the deploy lock of hello, which AcquireLock takes; " +
            "it did not run (--exclusive runs only the target). Run without --exclusive.\nNothing in production was changed.");
        _engine.Existing.ShouldBeEmpty();
        _registry.Snapshot().ShouldBe(new Dictionary<string, string> { [ColorKey] = "blue" });
    }

    [Test]
    public void Should_Know_Which_Stages_Run_Under_The_Deploy_Lock()
    {
        DeploymentStage.RunsUnderTheDeployLock(typeof(Pipeline.Tasks.Preflight)).ShouldBeFalse();
        DeploymentStage.RunsUnderTheDeployLock(typeof(PushImage)).ShouldBeFalse();
        DeploymentStage.RunsUnderTheDeployLock(typeof(AcquireLock)).ShouldBeFalse();
        DeploymentStage.RunsUnderTheDeployLock(typeof(DeployRelease)).ShouldBeTrue();
        DeploymentStage.RunsUnderTheDeployLock(typeof(SwitchProxy)).ShouldBeTrue();
        DeploymentStage.RunsUnderTheDeployLock(typeof(RetireOldRelease)).ShouldBeTrue();
    }

    private (int ExitCode, RecordingLog Log) Run<TTarget>()
        where TTarget : IFrostingTask => Run(typeof(TTarget).Name);

    private (int ExitCode, RecordingLog Log) Run(string target, params string[] more)
    {
        var log = new RecordingLog();
        var options = new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0", KeyPrefix = "p" };
        var result = FrostingHarness.Run(
            new Frosting.Journal(),
            [typeof(ChangesProduction), typeof(FailsAfterChanges), typeof(FailsBeforeTheLock), typeof(FailsAfterTheCommit), typeof(Rollback), typeof(WritesAfterLosingTheLock),
             typeof(Pipeline.Tasks.Preflight), typeof(PreDeploymentTests), typeof(BuildImage), typeof(PushImage), typeof(AcquireLock), typeof(ChangesAfterTheLock)],
            host => host
                .UseContext<InMemoryDeploymentContext>()
                .ConfigureServices(services =>
                {
                    services.AddSingleton(options);
                    services.AddSingleton(_registry);
                    services.AddSingleton(_engine);
                    services.AddSingleton<ICakeLog>(log);
                }),
            [$"--target={target}", .. more]);
        return (result.ExitCode, log);
    }

    /// <summary>The real context, on the in-memory registry and the stand-in engine.</summary>
    private sealed class InMemoryDeploymentContext(ICakeContext context, DeploymentOptions options, InMemoryRegistry registry, StandInEngine engine)
        : DeploymentContext(context, options)
    {
        public InMemoryRegistry Store => registry;

        protected override IServiceRegistry CreateServiceRegistry() => registry.Connect();

        protected override IDockerEngine CreateEngine(DockerEndpoint endpoint) => engine;

        protected override Task<IReleaseRuntime> CreateReleaseRuntimeAsync(CancellationToken ct) =>
            Task.FromResult<IReleaseRuntime>(new ContainerRuntime(engine, Options.Network, Options.ProbeImage, builtHere: true, Time));
    }

    /// <summary>Takes the lock and changes production the way stages do: each undo recorded before its change.</summary>
    [TaskName("ChangesProduction")]
    private sealed class ChangesProduction : DeploymentStage
    {
        protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
        {
            await context.DeployLock.AcquireAsync(ct);
            await context.Journal.RecordAsync(UndoStep.RemoveContainer("hello-green-1"), ct);
            await context.ProductionEngine.CreateContainerAsync(
                new ContainerSpec { Name = "hello-green-1", Image = "hello", Labels = context.LabelsFor(Roles.Release, "green") }, ct);
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

    /// <summary>A stage after AcquireLock that changes production the way DeployRelease does (undo recorded first).</summary>
    [TaskName("ChangesAfterTheLock")]
    [IsDependentOn(typeof(AcquireLock))]
    private sealed class ChangesAfterTheLock : DeploymentStage
    {
        protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
        {
            await context.Journal.RecordAsync(UndoStep.RemoveContainer("hello-green-1"), ct);
            await context.ProductionEngine.CreateContainerAsync(
                new ContainerSpec { Name = "hello-green-1", Image = "hello", Labels = context.LabelsFor(Roles.Release, "green") }, ct);
        }
    }

    /// <summary>Loses the lock to another run behind its back (its lease revoked, the other run takes the lock and writes), then writes.</summary>
    [TaskName("WritesAfterLosingTheLock")]
    [IsDependentOn(typeof(ChangesProduction))]
    private sealed class WritesAfterLosingTheLock : DeploymentStage
    {
        protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
        {
            var registry = ((InMemoryDeploymentContext)context).Store;
            await registry.RevokeLeaseAsync(context.DeployLock.Held!.LeaseId, ct);
            var other = await DeploymentLock.AcquireAsync(registry, "p", LockHolder.ForThisProcess("hello", "the-other-run", TimeSpan.FromSeconds(30)), TimeSpan.FromSeconds(30), TimeSpan.Zero, ct: ct);
            await registry.PutIfHeldAsync(other.Fence, ColorKey, "changed by the other run", ct);
            await context.ServiceRegistry.PutAsync(ColorKey, "green again", null, ct);
        }
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
