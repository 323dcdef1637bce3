using Pipeline.Migrations;

namespace Pipeline.Tests.Migrations;

public sealed class DatabaseUrlTests
{
    [Test]
    public void Should_Read_The_Parts_And_Hide_The_Password()
    {
        // Given a URL whose password needs escaping
        var url = DatabaseUrl.Parse("postgresql://app:p%40ss%3Aword@pipeline-postgres:6543/notes?sslmode=disable");

        // Then its parts are unescaped, and every way of showing it hides the password
        (url.Host, url.Port, url.User, url.Password, url.Database).ShouldBe(("pipeline-postgres", 6543, "app", "p@ss:word", "notes"));
        url.ToString().ShouldBe("postgres://app:***@pipeline-postgres:6543/notes?sslmode=disable");
        url.Redact("psql: FATAL p@ss:word wrong").ShouldBe("psql: FATAL *** wrong");
        $"{url}".ShouldNotContain("word");
    }

    [Test]
    public void Should_Give_Psql_Its_Environment_Instead_Of_A_Command_Line()
    {
        var url = DatabaseUrl.Parse("postgres://app:secret@db:5432/app?sslmode=require&connect_timeout=3");
        url.ToLibpqEnvironment().OrderBy(p => p.Key, StringComparer.Ordinal).ShouldBe(new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["PGHOST"] = "db", ["PGPORT"] = "5432", ["PGUSER"] = "app", ["PGPASSWORD"] = "secret", ["PGDATABASE"] = "app",
            ["PGSSLMODE"] = "require", ["PGCONNECT_TIMEOUT"] = "3",
        });
    }

    [Test]
    public void Should_Default_The_Port_And_Round_Trip_Create()
    {
        DatabaseUrl.Parse("postgres://app:x@db/app").Port.ShouldBe(5432);
        var created = DatabaseUrl.Create("db", 5432, "app", "a/b c", "app");
        DatabaseUrl.Parse(created.Value).Password.ShouldBe("a/b c");
    }

    [TestCase("mysql://app:secret@db/app", "not a postgres://user:password@host:port/database URL")]
    [TestCase("postgres://db/app", "a database URL needs a user, a host and a database: postgres://user:password@host:5432/database")]
    [TestCase("postgres://app:secret@db/", "a database URL needs a user, a host and a database: postgres://user:password@host:5432/database")]
    [TestCase("postgres://app:secret@db/app?password=other", "the parameter 'password' is not supported; use sslmode, connect_timeout, application_name, options, target_session_attrs")]
    [TestCase("app:secret@db", "not a postgres://user:password@host:port/database URL")]
    public void Should_Refuse_What_Is_Not_A_Postgres_Url_Without_Repeating_The_Password(string value, string message)
    {
        var error = Should.Throw<FormatException>(() => DatabaseUrl.Parse(value));
        error.Message.ShouldBe(message);
        error.Message.ShouldNotContain("secret");
    }
}
