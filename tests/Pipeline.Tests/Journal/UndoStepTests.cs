using Pipeline.Journal;

namespace Pipeline.Tests.Journal;

public sealed class UndoStepTests
{
    [Test]
    public void Should_Describe_Each_Undo_As_What_The_Rollback_Did()
    {
        UndoStep.RemoveContainer("hello-green-abc123").Description.ShouldBe("removed container hello-green-abc123");
        UndoStep.RemoveVolume("hello-green-abc123-data").Description.ShouldBe("removed volume hello-green-abc123-data");
        UndoStep.RemoveNetwork("pipeline").Description.ShouldBe("removed network pipeline");
        UndoStep.RestoreKey("p/services/hello/color", "blue").Description.ShouldBe("restored registry key p/services/hello/color");
        UndoStep.RestoreKey("p/services/hello/color", null).Description.ShouldBe("deleted registry key p/services/hello/color");
        UndoStep.RestoreProxy("config", "applied").Description.ShouldBe("restored the proxy config from the registry");
    }

    [Test]
    public void Should_Carry_Its_Arguments_As_Data()
    {
        var step = UndoStep.RestoreKey("p/services/hello/color", null);

        step.Kind.ShouldBe(UndoKinds.RestoreKey);
        step.Arguments.ShouldBe(new Dictionary<string, string?> { ["key"] = "p/services/hello/color", ["value"] = null });
    }

    [Test]
    public void Should_Name_The_Kind_And_Argument_When_A_Required_Argument_Is_Missing()
    {
        var step = new UndoStep(UndoKinds.RemoveContainer, new Dictionary<string, string?>(), "removed container ?");

        Should.Throw<UndoRefusedException>(() => step.Required("name"))
            .Message.ShouldBe("it lacks its 'name' argument");
    }
}
