using Pipeline.Planning;

namespace Pipeline.Tests.Planning;

public sealed class UnifiedDiffTests
{
    [Test]
    public void Should_Be_Empty_When_Nothing_Changes() =>
        UnifiedDiff.Create("a\nb\n", "a\nb\n", "live", "planned").ShouldBeEmpty();

    [Test]
    public void Should_Show_A_Changed_Line_With_Three_Lines_Of_Context()
    {
        var before = string.Join('\n', Enumerable.Range(1, 10).Select(i => $"line {i}")) + "\n";
        var after = before.Replace("line 5\n", "line five\n", StringComparison.Ordinal);

        UnifiedDiff.Create(before, after, "live", "planned").ShouldBe("""
            --- live
            +++ planned
            @@ -2,7 +2,7 @@
             line 2
             line 3
             line 4
            -line 5
            +line five
             line 6
             line 7
             line 8

            """.Replace("\r\n", "\n"));
    }

    [Test]
    public void Should_Make_Two_Hunks_Of_Changes_Far_Apart_And_Show_An_Added_File_From_Nothing()
    {
        var before = string.Join('\n', Enumerable.Range(1, 20).Select(i => $"l{i}")) + "\n";
        var after = before.Replace("l2\n", "", StringComparison.Ordinal).Replace("l18\n", "l18\nnew\n", StringComparison.Ordinal);

        var diff = UnifiedDiff.Create(before, after, "a", "b");

        diff.Split('\n').Where(l => l.StartsWith("@@", StringComparison.Ordinal)).ShouldBe(["@@ -1,5 +1,4 @@", "@@ -16,5 +15,6 @@"]);
        diff.ShouldContain("\n-l2\n");
        diff.ShouldContain("\n+new\n");
        UnifiedDiff.Create("", "x\ny\n", "a", "b").ShouldBe("--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
    }

    [Test]
    public void Should_Reproduce_The_New_Text_From_The_Old_One_And_The_Edits()
    {
        // Given two texts with moves, inserts and deletes
        var random = new Random(7);
        var a = Enumerable.Range(0, 200).Select(_ => $"k{random.Next(30)}").ToArray();
        var b = a.Where((_, i) => i % 7 != 0).Concat(Enumerable.Range(0, 20).Select(i => $"n{i}")).Reverse().ToArray();

        // When diffed
        var edits = UnifiedDiff.Edits(a, b);

        // Then keeping and deleting walks the old text, keeping and inserting yields the new one
        edits.Where(e => e.Op != '+').Select(e => e.Line).ShouldBe(a);
        edits.Where(e => e.Op != '-').Select(e => e.Line).ShouldBe(b);
    }
}
