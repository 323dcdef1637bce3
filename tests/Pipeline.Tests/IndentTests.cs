namespace Pipeline.Tests;

public sealed class IndentTests
{
    [Test]
    public void Should_Indent_Each_Line_By_Four_Spaces_Dropping_Carriage_Returns()
    {
        Indent.Lines(["first\r", "second"]).ShouldBe("    first\n    second");
    }

    [Test]
    public void Should_Say_So_When_There_Is_No_Output()
    {
        Indent.Text("  \n").ShouldBe("    (no output)");
        Indent.Text(null, whenBlank: "(empty)").ShouldBe("    (empty)");
    }

    [Test]
    public void Should_Keep_Only_The_Last_Lines_And_Say_How_Many_Were_Left_Out()
    {
        Indent.Text("1\n2\n3\n4\n", lastLines: 2).ShouldBe("    … (2 earlier lines)\n    3\n    4");
        Indent.Text("1\n2", lastLines: 2).ShouldBe("    1\n    2");
    }
}
