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
        steps.Select(s => s.Step.Description).ShouldBe(["removed network pipeline", "removed container hello-green-1", "restored registry key p/services/hello/color"]);
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
        var step = read.ShouldHaveSingleItem().Step;
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
        (await journal.ReadAsync()).Select(s => (s.Key, s.Step.Arguments["name"])).ShouldBe([("p/journal/hello/000001", "a"), ("p/journal/hello/000002", "d")]);
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
        (await helloApi.ReadAsync()).ShouldHaveSingleItem().Step.Description.ShouldBe("removed container hello-api-green-1");
    }

    [Test]
    public async Task Should_Name_The_Entry_When_It_Is_Not_An_Undo_Step()
    {
        // Given
        await _registry.PutAsync("p/journal/hello/000001", "null");

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => new DeploymentJournal(_registry, "p", "hello").ReadAsync());

        // Then
        error.Message.ShouldBe("Journal entry p/journal/hello/000001 is not an undo step: null");
    }
}
