using Pipeline.Journal;
using Pipeline.Registry;
using Pipeline.Testing.Support;

namespace Pipeline.Tests.Journal;

public sealed class DeploymentJournalTests
{
    private InMemoryRegistry _registry = null!;

    [SetUp]
    public void CreateRegistry() => _registry = new InMemoryRegistry();

    [TearDown]
    public void DisposeRegistry() => _registry.Dispose();

    [Test]
    public async Task Should_Read_Steps_In_The_Order_They_Were_Recorded()
    {
        // Given
        var journal = new DeploymentJournal(_registry, "p", "hello");

        // When
        await journal.RecordAsync(UndoStep.RemoveNetwork("pipeline"));
        await journal.RecordAsync(UndoStep.RemoveContainer("hello-green-1"));
        await journal.RecordAsync(UndoStep.RestoreKey("p/services/hello/color", "blue"));

        // Then
        var steps = await journal.ReadAsync();
        steps.Select(s => s.Key).ShouldBe(["p/journal/hello/000001", "p/journal/hello/000002", "p/journal/hello/000003"]);
        steps.Select(s => s.Step!.Description).ShouldBe(["removed network pipeline", "removed container hello-green-1", "restored registry key p/services/hello/color"]);
    }

    [Test]
    public async Task Should_Persist_Each_Step_As_Json_Data_Another_Process_Can_Run()
    {
        // Given a step recorded by one run
        await new DeploymentJournal(_registry, "p", "hello").RecordAsync(UndoStep.RestoreKey("p/services/hello/color", null));

        // When another client (another process) reads the journal
        var read = await new DeploymentJournal(_registry.Connect(), "p", "hello").ReadAsync();

        // Then it finds the same step, written as plain JSON
        _registry.Snapshot()["p/journal/hello/000001"].ShouldBe(
            """{"kind":"restore-key","arguments":{"key":"p/services/hello/color","value":null},"description":"deleted registry key p/services/hello/color"}""");
        var step = read.ShouldHaveSingleItem().Step.ShouldNotBeNull();
        step.Kind.ShouldBe(UndoKinds.RestoreKey);
        step.Arguments.ShouldBe(new Dictionary<string, string?> { ["key"] = "p/services/hello/color", ["value"] = null });
    }

    [Test]
    public async Task Should_Number_A_New_Step_After_The_Highest_One_Left()
    {
        // Given a journal whose middle step ran and was removed
        var journal = new DeploymentJournal(_registry, "p", "hello");
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));
        await journal.RecordAsync(UndoStep.RemoveContainer("b"));
        await journal.RecordAsync(UndoStep.RemoveContainer("c"));
        await journal.RemoveAsync("p/journal/hello/000003");
        await journal.RemoveAsync("p/journal/hello/000002");

        // When
        await journal.RecordAsync(UndoStep.RemoveContainer("d"));

        // Then
        (await journal.ReadAsync()).Select(s => (s.Key, s.Step!.Arguments["name"])).ShouldBe([("p/journal/hello/000001", "a"), ("p/journal/hello/000002", "d")]);
    }

    [Test]
    public async Task Should_Write_Each_Further_Step_In_One_Call_Numbered_After_Its_Last()
    {
        // Given a journal that recorded a step (reading the journal for its number)
        var journal = new DeploymentJournal(_registry, "p", "hello");
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));
        var calls = new List<string>();
        _registry.Refuse = operation =>
        {
            calls.Add(operation);
            return false;
        };

        // When it records two more
        await journal.RecordAsync(UndoStep.RemoveContainer("b"));
        await journal.RecordAsync(UndoStep.RemoveContainer("c"));

        // Then each was one write, without reading the journal again
        calls.ShouldBe(["put 'p/journal/hello/000002'", "put 'p/journal/hello/000003'"]);
    }

    [Test]
    public async Task Should_Record_Steps_Given_Together_Under_Consecutive_Numbers_In_Their_Order()
    {
        // Given a journal with one step
        var journal = new DeploymentJournal(_registry, "p", "hello");
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));

        // When two steps are recorded together
        await journal.RecordAsync([UndoStep.RemoveContainer("b"), UndoStep.RemoveContainer("c")]);

        // Then they follow it, in the order given (so they are undone c, b, a)
        (await journal.ReadAsync()).Select(e => (e.Sequence, e.Step!.Arguments["name"])).ShouldBe([("000001", "a"), ("000002", "b"), ("000003", "c")]);
    }

    [Test]
    public async Task Should_Not_Reuse_The_Number_Of_A_Step_Whose_Write_Failed()
    {
        // Given a journal whose write of its second and third steps fails for the third only
        var journal = new DeploymentJournal(_registry, "p", "hello");
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));
        _registry.Refuse = operation => operation == "put 'p/journal/hello/000003'";
        await Should.ThrowAsync<ServiceRegistryException>(() => journal.RecordAsync([UndoStep.RemoveContainer("b"), UndoStep.RemoveContainer("c")]));
        _registry.Refuse = null;

        // When the next step is recorded
        await journal.RecordAsync(UndoStep.RemoveContainer("d"));

        // Then it comes after the failed number, and every step written is kept
        (await journal.ReadAsync()).Select(e => (e.Sequence, e.Step!.Arguments["name"])).ShouldBe([("000001", "a"), ("000002", "b"), ("000004", "d")]);
    }

    [Test]
    public async Task Should_Keep_Each_Services_Journal_Apart()
    {
        // Given journals of two services, one a prefix of the other's name
        var hello = new DeploymentJournal(_registry, "p", "hello");
        var helloApi = new DeploymentJournal(_registry, "p", "hello-api");
        await hello.RecordAsync(UndoStep.RemoveContainer("hello-green-1"));
        await helloApi.RecordAsync(UndoStep.RemoveContainer("hello-api-green-1"));

        // When one is cleared
        await hello.ClearAsync();

        // Then the other is untouched
        (await hello.ReadAsync()).ShouldBeEmpty();
        (await helloApi.ReadAsync()).ShouldHaveSingleItem().Step!.Description.ShouldBe("removed container hello-api-green-1");
    }

    [Test]
    public async Task Should_Read_An_Entry_That_Is_Not_An_Undo_Step_As_Damaged()
    {
        // Given
        await _registry.PutAsync("p/journal/hello/000001", "null");

        // When
        var entry = (await new DeploymentJournal(_registry, "p", "hello").ReadAsync()).ShouldHaveSingleItem();

        // Then
        entry.Step.ShouldBeNull();
        entry.Damage.ShouldBe("not an undo step: null");
        entry.Describe().ShouldBe("000001 (unreadable: not an undo step: null)");
    }

    [Test]
    public async Task Should_Stamp_Each_Step_With_The_Deploy_That_Recorded_It()
    {
        // When
        await new DeploymentJournal(_registry, "p", "hello", "20261130-abc123").RecordAsync(UndoStep.RemoveContainer("hello-green-1"));

        // Then
        _registry.Snapshot()["p/journal/hello/000001"].ShouldBe(
            """{"kind":"remove-container","arguments":{"name":"hello-green-1"},"description":"removed container hello-green-1","deployId":"20261130-abc123"}""");
    }

    [Test]
    public async Task Should_Ignore_Keys_That_Are_Not_Sequence_Numbers_With_A_Warning_And_Go_On_Recording()
    {
        // Given a journal holding keys something else (or a newer Pipeline) wrote
        var warnings = new List<string>();
        var journal = new DeploymentJournal(_registry, "p", "hello", warn: warnings.Add);
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));
        await _registry.PutAsync("p/journal/hello/notes", "written by hand");
        await _registry.PutAsync("p/journal/hello/000002/sub", "nested");

        // When a step is recorded and the journal read
        await journal.RecordAsync(UndoStep.RemoveContainer("b"));
        var steps = await journal.ReadAsync();

        // Then the foreign keys broke nothing, were left alone, and were named
        steps.Select(s => s.Key).ShouldBe(["p/journal/hello/000001", "p/journal/hello/000002"]);
        _registry.Snapshot().Keys.ShouldContain("p/journal/hello/notes");
        warnings.ShouldContain("Ignoring p/journal/hello/notes in the journal of hello: not a journal step (its name is not a sequence number; written by something else or a newer Pipeline?).");
        warnings.ShouldContain(w => w.StartsWith("Ignoring p/journal/hello/000002/sub ", StringComparison.Ordinal));
    }

    [Test]
    public async Task Should_Record_Who_Skipped_A_Step_Before_Removing_It()
    {
        // Given a journal with a stuck step
        var journal = new DeploymentJournal(_registry, "p", "hello");
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));
        await _registry.PutAsync("p/journal/hello/000002", """{"kind":"scale-service","arguments":{},"description":"scaled back"}""");
        var at = new DateTimeOffset(2026, 11, 30, 12, 0, 0, 123, TimeSpan.Zero);

        // When an operator skips it by its sequence number
        var skipped = await journal.SkipAsync("2", new AuditEntry("skip-undo-step", "", "", "alice", "ops-1", 4242, "20261130120000-ffffff", at));

        // Then it is gone, the other step stays, and the audit key says who cleared what
        skipped.Describe().ShouldBe("000002 scale-service (scaled back)");
        (await journal.ReadAsync()).ShouldHaveSingleItem().Sequence.ShouldBe("000001");
        _registry.Snapshot()["p/audit/hello/20261130120000123-20261130120000-ffffff"].ShouldBe(
            """{"action":"skip-undo-step","key":"p/journal/hello/000002","step":"{\u0022kind\u0022:\u0022scale-service\u0022,\u0022arguments\u0022:{},\u0022description\u0022:\u0022scaled back\u0022}","user":"alice","host":"ops-1","pid":4242,"deployId":"20261130120000-ffffff","at":"2026-11-30T12:00:00.123+00:00"}""");
    }

    [Test]
    public async Task Should_Name_The_Steps_There_Are_When_Skipping_One_That_Is_Not()
    {
        var journal = new DeploymentJournal(_registry, "p", "hello");
        await journal.RecordAsync(UndoStep.RemoveContainer("a"));

        var error = await Should.ThrowAsync<ArgumentException>(() => journal.SkipAsync("000009", new AuditEntry("skip-undo-step", "", "", "u", "h", 1, "d", DateTimeOffset.UnixEpoch)));

        error.Message.ShouldStartWith("The journal of hello has no step '000009' to skip; its steps are: 000001.");
        (await journal.ReadAsync()).Count.ShouldBe(1);
    }
}
