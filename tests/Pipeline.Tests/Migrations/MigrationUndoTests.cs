using Pipeline.Migrations;

namespace Pipeline.Tests.Migrations;

public sealed class MigrationUndoTests
{
    private static Migration WithDown(string up, string down) => new(
        2, "add_author", MigrationPhase.Expand,
        new MigrationScript("002_add_author.expand.sql", "/x", up, SqlScript.Split(up)),
        new MigrationScript("002_add_author.down.sql", "/y", down, SqlScript.Split(down)));

    [Test]
    public void Should_Carry_What_A_Rollback_Needs_In_The_Journal_And_Nothing_Secret()
    {
        // Given an expand migration with a down script
        var migration = WithDown("ALTER TABLE notes ADD COLUMN author text;", "ALTER TABLE notes DROP COLUMN author;");

        // When it becomes journal arguments and comes back
        var arguments = MigrationUndo.Arguments(migration, "20261130-abc123");
        var (back, deployId) = MigrationUndo.FromArguments(arguments);

        // Then the number, name, checksum, deploy and down script survive; the migration's own text is not kept
        arguments.Keys.Order(StringComparer.Ordinal).ShouldBe(["checksum", "deployId", "down", "downFile", "file", "name", "number"]);
        (back.Number, back.Name, back.Script.FileName, back.Script.Checksum, deployId).ShouldBe((2, "add_author", "002_add_author.expand.sql", migration.Script.Checksum, "20261130-abc123"));
        back.Down!.Sql.ShouldBe("ALTER TABLE notes DROP COLUMN author;");
        back.Down.Statements.ShouldHaveSingleItem();
    }

    [Test]
    public void Should_Refuse_Arguments_It_Cannot_Revert_From()
    {
        var arguments = new Dictionary<string, string?>(MigrationUndo.Arguments(WithDown("SELECT 1;", "SELECT 2;"), "d1"));
        arguments.Remove("checksum");
        Should.Throw<FormatException>(() => MigrationUndo.FromArguments(arguments)).Message.ShouldBe("the journal step lacks its 'checksum' argument");
        Should.Throw<ArgumentException>(() => MigrationUndo.Arguments(WithDown("SELECT 1;", "SELECT 2;") with { Down = null }, "d1"));
    }
}
