using Pipeline.Migrations;

namespace Pipeline.Tests.Migrations;

public sealed class SqlScriptTests
{
    private static string[] Statements(string sql) => SqlScript.Split(sql).Select(s => s.Text).ToArray();

    [Test]
    public void Should_Split_On_Semicolons_That_End_Statements()
    {
        // Given two statements, the second without a final semicolon / When split
        var statements = Statements("CREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b text");

        // Then each is one statement, without its semicolon
        statements.ShouldBe(["CREATE TABLE a (id int)", "ALTER TABLE a ADD COLUMN b text"]);
    }

    [TestCase("SELECT 'a;b'; SELECT 2", "SELECT 'a;b'")]
    [TestCase("SELECT 'it''s; here'; SELECT 2", "SELECT 'it''s; here'")]
    [TestCase("SELECT E'a\\';b'; SELECT 2", "SELECT E'a\\';b'")]
    [TestCase("SELECT \"we;ird\" FROM t; SELECT 2", "SELECT \"we;ird\" FROM t")]
    [TestCase("SELECT \"a\"\";b\" FROM t; SELECT 2", "SELECT \"a\"\";b\" FROM t")]
    [TestCase("SELECT 1 -- a comment; not the end\n; SELECT 2", "SELECT 1")]
    [TestCase("SELECT /* a; /* nested; */ still; */ 1; SELECT 2", "SELECT /* a; /* nested; */ still; */ 1")]
    [TestCase("DO $$ BEGIN PERFORM 1; END $$; SELECT 2", "DO $$ BEGIN PERFORM 1; END $$")]
    [TestCase("DO $body$ BEGIN RAISE NOTICE '$$;'; END $body$; SELECT 2", "DO $body$ BEGIN RAISE NOTICE '$$;'; END $body$")]
    [TestCase("SELECT U&'d\\0061t;a'; SELECT 2", "SELECT U&'d\\0061t;a'")]
    [TestCase("SELECT U&\"d;a\" FROM t; SELECT 2", "SELECT U&\"d;a\" FROM t")]
    [TestCase("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 2", "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))")]
    [TestCase("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END; SELECT 2", "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END")]
    [TestCase("SELECT a$b$c FROM t; SELECT 2", "SELECT a$b$c FROM t")]
    public void Should_Not_Split_Inside_Quotes_Comments_Parentheses_Or_Routine_Bodies(string sql, string first)
    {
        // Given a semicolon that does not end the statement / When split
        var statements = Statements(sql);

        // Then the first statement runs up to the real end, and the second follows
        statements.ShouldBe([first, "SELECT 2"]);
    }

    [Test]
    public void Should_Drop_Empty_Statements_And_Comment_Only_Scripts()
    {
        Statements(";;\n-- only a comment\n/* and another */ ;").ShouldBeEmpty();
        Statements("SELECT 1;;;SELECT 2;").ShouldBe(["SELECT 1", "SELECT 2"]);
    }

    [Test]
    public void Should_Report_The_Line_Each_Statement_Starts_On()
    {
        // Given statements after comments and blank lines / When split
        var statements = SqlScript.Split("-- header\n\nCREATE TABLE a (id int);\n/* x\n y */ ALTER TABLE a\n ADD b int;");

        // Then lines point at the first token, not at the comment before it
        statements.Select(s => s.Line).ShouldBe([3, 5]);
    }

    [Test]
    public void Should_Fold_Unquoted_Words_And_Keep_Quoted_Identifiers()
    {
        // Given mixed case / When tokenized
        var tokens = SqlTokenizer.Tokenize("ALTER TABLE Notes DROP \"Title\"");

        // Then words are lower case, quoted identifiers keep their case and lose their quotes
        tokens.Select(t => (t.Kind, t.Value)).ShouldBe(
        [
            (SqlTokenKind.Word, "alter"), (SqlTokenKind.Word, "table"), (SqlTokenKind.Word, "notes"),
            (SqlTokenKind.Word, "drop"), (SqlTokenKind.QuotedIdentifier, "Title"),
        ]);
    }

    [Test]
    public void Should_Keep_Comment_Starts_Out_Of_Operators()
    {
        // Given an operator right before a comment / When tokenized
        var tokens = SqlTokenizer.Tokenize("SELECT a=-- comment\n1, b</* c */2, $1 :: int");

        // Then the comment is not part of the operator
        tokens.Select(t => t.Value).ShouldBe(["select", "a", "=", "1", ",", "b", "<", "2", ",", "$1", "::", "int"]);
        tokens[^3].Kind.ShouldBe(SqlTokenKind.Parameter);
    }

    [TestCase("1.5e-3", "1.5e-3")]
    [TestCase(".5", ".5")]
    [TestCase("1_000", "1_000")]
    public void Should_Read_Numbers(string text, string value)
    {
        var token = SqlTokenizer.Tokenize(text).ShouldHaveSingleItem();
        token.Kind.ShouldBe(SqlTokenKind.Number);
        token.Value.ShouldBe(value);
    }

    [TestCase("SELECT 'never closed", 1, 8, "the string constant opened here is never closed (no matching ')")]
    [TestCase("SELECT 1;\nSELECT \"open", 2, 8, "the quoted identifier opened here is never closed (no matching \")")]
    [TestCase("SELECT 1 /* open /* nested */", 1, 10, "the block comment (/* ... */) is never closed")]
    [TestCase("DO $fn$ BEGIN END $other$", 1, 4, "the dollar-quoted string opened with $fn$ is never closed (no matching $fn$)")]
    [TestCase("SELECT E'ends with a backslash\\'", 1, 8, "the escape string constant (E'...') opened here is never closed (no matching ')")]
    [TestCase("SELECT $ FROM t", 1, 8, "a '$' that starts neither a dollar quote ($$ or $tag$) nor a parameter ($1)")]
    [TestCase("SELECT \"\" FROM t", 1, 8, "a quoted identifier cannot be empty (\"\")")]
    [TestCase("SELECT {1}", 1, 8, "unexpected character '{' (U+007B)")]
    [TestCase("SELECT (1;\nSELECT 2", 1, 8, "a '(' that is never closed")]
    [TestCase("SELECT 1);", 1, 9, "a ')' without its '('")]
    [TestCase("CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1;", 1, 1, "a BEGIN ATOMIC routine body without its END")]
    public void Should_Name_Line_And_Column_Of_What_Does_Not_Parse(string sql, int line, int column, string reason)
    {
        // Given a script that cannot be split / When split
        var error = Should.Throw<SqlSyntaxException>(() => SqlScript.Split(sql));

        // Then the error says where and why
        (error.Line, error.Column, error.Reason).ShouldBe((line, column, reason));
    }

    [Test]
    public void Should_Show_A_Statement_On_One_Line_Cut_To_Length()
    {
        var statement = SqlScript.Split("ALTER TABLE notes\n    DROP COLUMN   title").Single();
        statement.Shown().ShouldBe("ALTER TABLE notes DROP COLUMN title");
        statement.Shown(12).ShouldBe("ALTER TABLE…");
    }
}
