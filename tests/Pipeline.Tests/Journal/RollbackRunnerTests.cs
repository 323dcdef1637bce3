using Microsoft.Extensions.Time.Testing;
using Pipeline.Journal;
using Pipeline.Registry;
using Pipeline.Testing.Support;
using Pipeline.Tests.Support;

namespace Pipeline.Tests.Journal;

/// <summary>The rollback core on an in-memory registry and an engine that only records removals: no engine runs.</summary>
public sealed class RollbackRunnerTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);
    private InMemoryRegistry _registry = null!;
    private RemovalsOnlyEngine _engine = null!;
    private DeploymentJournal _journal = null!;
    private List<string?> _proxyRestores = null!;
    private List<string> _log = null!;

    [SetUp]
    public void CreateRegistryAndEngine()
    {
        _registry = new InMemoryRegistry();
        _engine = new RemovalsOnlyEngine();
        _journal = new DeploymentJournal(_registry, "p", "hello");
        _proxyRestores = [];
        _log = [];
    }

    [TearDown]
    public void DisposeThem()
    {
        _registry.Dispose();
        _engine.Dispose();
    }

    private RollbackRunner Runner(TimeProvider? time = null) => new(
        _journal,
        _engine,
        _registry,
        (config, _) =>
        {
            _proxyRestores.Add(config);
            return Task.CompletedTask;
        },
        StepTimeout,
        _log.Add,
        time);

    /// <summary>What a deploy up to SwitchProxy records, each undo before its change, and the changes themselves.</summary>
    private async Task DeployUpToTheSwitchAsync()
    {
        await _journal.RecordAsync(UndoStep.RemoveNetwork("pipeline"));
        await _journal.RecordAsync(UndoStep.RemoveVolume("hello-green-abc123-data"));
        await _journal.RecordAsync(UndoStep.RemoveContainer("hello-green-abc123"));
        await _journal.RecordAsync(UndoStep.RestoreKey("p/services/hello/releases/green", null));
        await _registry.PutAsync("p/services/hello/releases/green", """{"color":"green"}""");
        await _journal.RecordAsync(UndoStep.RestoreProxy("the config before", rerender: true));
        await _journal.RecordAsync(UndoStep.RestoreKey("p/services/hello/color", "blue"));
        await _registry.PutAsync("p/services/hello/color", "green");
    }

    [Test]
    public async Task Should_Undo_Every_Step_Newest_First_And_Empty_The_Journal()
    {
        // Given a deploy that got as far as the switch
        await _registry.PutAsync("p/services/hello/color", "blue");
        await DeployUpToTheSwitchAsync();

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then each change was undone in reverse order, and the registry is as before the deploy
        report.Done.ShouldBe(
        [
            "restored registry key p/services/hello/color",
            "restored the proxy config from the registry",
            "deleted registry key p/services/hello/releases/green",
            "removed container hello-green-abc123",
            "removed volume hello-green-abc123-data",
            "removed network pipeline",
        ]);
        report.Failed.ShouldBeEmpty();
        report.Complete.ShouldBeTrue();
        _engine.Removed.ShouldBe(["container hello-green-abc123", "volume hello-green-abc123-data", "network pipeline"]);
        _proxyRestores.ShouldBe([null]);
        _registry.Snapshot().ShouldBe(new Dictionary<string, string> { ["p/services/hello/color"] = "blue" });
        _log.ShouldBe(report.Done.Select(d => $"rollback: {d}"));
    }

    [Test]
    public async Task Should_Restore_The_Exact_Previous_Proxy_Config_When_It_Cannot_Be_Rendered_Again()
    {
        await _journal.RecordAsync(UndoStep.RestoreProxy("hand-edited config", rerender: false));

        var report = await Runner().RunAsync();

        _proxyRestores.ShouldBe(["hand-edited config"]);
        report.Summary.ShouldBe("restored the previous proxy config");
    }

    [Test]
    public async Task Should_Do_Nothing_The_Second_Time()
    {
        // Given a journal that was unwound once
        await _registry.PutAsync("p/services/hello/color", "blue");
        await DeployUpToTheSwitchAsync();
        await Runner().RunAsync();
        var after = _registry.Snapshot();

        // When it is unwound again (a retry, or a second handler)
        var again = await Runner().RunAsync();

        // Then nothing more happened
        again.Done.ShouldBeEmpty();
        again.Complete.ShouldBeTrue();
        again.Summary.ShouldBe("nothing to undo");
        _registry.Snapshot().ShouldBe(after);
        _engine.Removed.Count.ShouldBe(3);
    }

    [Test]
    public async Task Should_Keep_A_Failing_Undo_In_The_Journal_And_Still_Run_The_Others()
    {
        // Given a deploy whose container cannot be removed (the engine does not answer)
        await _registry.PutAsync("p/services/hello/color", "blue");
        await DeployUpToTheSwitchAsync();
        _engine.Unreachable.Add("hello-green-abc123");

        // When its journal is unwound
        var report = await Runner().RunAsync();

        // Then every other step ran, the failed one is reported and stays in the journal, alone
        report.Complete.ShouldBeFalse();
        report.Done.Count.ShouldBe(5);
        report.Failed.ShouldBe([$"removed container hello-green-abc123: Could not reach the Docker engine at {_engine.Endpoint} while removing container hello-green-abc123: Connection refused"]);
        report.Summary.ShouldEndWith(
            $"; FAILED to undo (kept in the journal, retry with --target=Rollback): removed container hello-green-abc123: Could not reach the Docker engine at {_engine.Endpoint} while removing container hello-green-abc123: Connection refused");
        _engine.Removed.ShouldBe(["volume hello-green-abc123-data", "network pipeline"]);
        (await _journal.ReadAsync()).ShouldHaveSingleItem().Step.ShouldBe(UndoStep.RemoveContainer("hello-green-abc123"), new UndoStepComparer());
        _log.ShouldContain($"rollback: could not undo (remove-container): Could not reach the Docker engine at {_engine.Endpoint} while removing container hello-green-abc123: Connection refused");

        // And when the engine answers again, a retry finishes the job
        _engine.Unreachable.Clear();
        var retry = await Runner().RunAsync();
        retry.Done.ShouldBe(["removed container hello-green-abc123"]);
        (await _journal.ReadAsync()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Say_Nothing_Was_Undone_When_No_Step_Could_Run()
    {
        await _journal.RecordAsync(UndoStep.RemoveContainer("hello-green-abc123"));
        _engine.Unreachable.Add("hello-green-abc123");

        var report = await Runner().RunAsync();

        report.Summary.ShouldStartWith("nothing; FAILED to undo (kept in the journal, retry with --target=Rollback): removed container hello-green-abc123: ");
    }

    [Test]
    public async Task Should_Give_Each_Step_Its_Own_Timeout_And_Move_On()
    {
        // Given a step whose removal never finishes, before (newer than) one that works
        var time = new FakeTimeProvider();
        await _journal.RecordAsync(UndoStep.RemoveContainer("answers"));
        await _journal.RecordAsync(UndoStep.RemoveContainer("hangs"));
        _engine.Hanging.Add("hangs");

        // When the journal is unwound and the hanging step's timeout passes
        var run = Runner(time).RunAsync();
        while (!run.IsCompleted)
        {
            await Task.Yield();
            time.Advance(TimeSpan.FromSeconds(1));
        }

        var report = await run;

        // Then the hanging step failed on its own timeout and stays; the next one still ran
        report.Failed.ShouldHaveSingleItem().ShouldStartWith("removed container hangs: ");
        report.Done.ShouldBe(["removed container answers"]);
        (await _journal.ReadAsync()).ShouldHaveSingleItem().Step.Arguments["name"].ShouldBe("hangs");
    }

    [Test]
    public async Task Should_Keep_A_Step_Of_An_Unknown_Kind_And_Name_It()
    {
        await _registry.PutAsync("p/journal/hello/000001", """{"kind":"scale-service","arguments":{},"description":"scaled back"}""");

        var report = await Runner().RunAsync();

        report.Failed.ShouldBe(["scaled back: Unknown undo kind 'scale-service' (written by a newer Pipeline?)."]);
        (await _journal.ReadAsync()).ShouldHaveSingleItem();
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

    /// <summary>Undo steps compared by kind, arguments and description.</summary>
    private sealed class UndoStepComparer : IEqualityComparer<UndoStep>
    {
        public bool Equals(UndoStep? x, UndoStep? y) =>
            x is not null && y is not null && x.Kind == y.Kind && x.Description == y.Description
            && x.Arguments.OrderBy(a => a.Key).SequenceEqual(y.Arguments.OrderBy(a => a.Key));

        public int GetHashCode(UndoStep obj) => obj.Kind.GetHashCode(StringComparison.Ordinal);
    }
}
