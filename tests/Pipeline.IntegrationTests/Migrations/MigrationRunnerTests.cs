using Pipeline.Docker;
using Pipeline.Migrations;

namespace Pipeline.IntegrationTests.Migrations;

/// <summary>The migration runner against a real PostgreSQL, reached only from containers on the database's network.</summary>
public sealed class MigrationRunnerTests
{
    private const string CreateNotes = "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);\nINSERT INTO notes (body) VALUES ('first');\n";
    private const string AddAuthor = "ALTER TABLE notes ADD COLUMN author text;\n";
    private PostgresServer _server = null!;
    private string _folder = null!;
    private readonly List<string> _log = [];

    [OneTimeSetUp]
    public async Task StartServer() => _server = await PostgresServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("pipeline-migrations"));
        Directory.CreateDirectory(_folder);
        _log.Clear();
    }

    [TearDown]
    public async Task RemoveFolderAndCheckNothingIsLeft()
    {
        Directory.Delete(_folder, recursive: true);

        // Every runner container is gone, and no line of output carried the password.
        (await RunnerContainersAsync()).ShouldBeEmpty();
        _log.ShouldNotContain(line => line.Contains(_server.Report.Url.Password, StringComparison.Ordinal));
    }

    private MigrationSet Folder(params (string Name, string Sql)[] files)
    {
        foreach (var (name, sql) in files)
        {
            File.WriteAllText(Path.Combine(_folder, name), sql);
        }

        return MigrationSet.Load(_folder);
    }

    private MigrationRunner Runner(DatabaseUrl database, TimeSpan? timeout = null) => new(
        _server.Engine,
        new MigrationRunnerOptions
        {
            Database = database,
            Network = _server.Network,
            Image = PostgresServer.Image,
            Labels = new Dictionary<string, string> { ["pipeline.test"] = _server.Options.ContainerName },
            MigrationTimeout = timeout ?? TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        },
        _log.Add);

    private Task<IReadOnlyList<ContainerInfo>> RunnerContainersAsync() =>
        _server.Engine.ListContainersAsync(new Dictionary<string, string> { ["pipeline.test"] = _server.Options.ContainerName, ["pipeline.role"] = "migration" });

    [Test]
    public async Task Should_Apply_Pending_Expand_Migrations_In_Order_And_Record_Each_With_Its_Checksum()
    {
        // Given a new database and two expand migrations (and a contract one, for later)
        var database = await _server.CreateDatabaseAsync();
        var migrations = Folder(("001_create_notes.expand.sql", CreateNotes), ("002_add_author.expand.sql", AddAuthor), ("003_drop_body.contract.sql", "ALTER TABLE notes DROP COLUMN body;"));
        var journaled = new List<string>();

        // When the expand phase runs
        var report = await Runner(database).ApplyPendingAsync(migrations, MigrationPhase.Expand, "20261130-abc123", (m, _) =>
        {
            journaled.Add(m.Id);
            return Task.CompletedTask;
        });

        // Then both expand migrations ran, in order, each announced first; the contract one waits
        report.Applied.Select(m => m.Id).ShouldBe(["001_create_notes", "002_add_author"]);
        journaled.ShouldBe(["001_create_notes", "002_add_author"]);
        (await _server.ColumnsAsync(database, "notes")).ShouldBe(["id", "body", "author"]);
        (await _server.MigrationRowsAsync(database)).ShouldBe(["1 create_notes expand", "2 add_author expand"]);
        var applied = await Runner(database).ListAppliedAsync();
        applied.Select(a => (a.Checksum, a.DeployId)).ShouldBe(migrations.Of(MigrationPhase.Expand).Select(m => (m.Script.Checksum, (string?)"20261130-abc123")));
    }

    [Test]
    public async Task Should_Apply_Nothing_When_Run_Again()
    {
        // Given the migrations applied once
        var database = await _server.CreateDatabaseAsync();
        var migrations = Folder(("001_create_notes.expand.sql", CreateNotes), ("002_add_author.expand.sql", AddAuthor));
        await Runner(database).ApplyPendingAsync(migrations, MigrationPhase.Expand, "first");
        var before = await Runner(database).ListAppliedAsync();

        // When run again
        var report = await Runner(database).ApplyPendingAsync(migrations, MigrationPhase.Expand, "second");

        // Then nothing ran: the rows are the same (same time, same deploy) and the data was not inserted twice
        report.Applied.ShouldBeEmpty();
        report.Plan.AlreadyApplied.Count.ShouldBe(2);
        (await Runner(database).ListAppliedAsync()).ShouldBe(before);
        (await _server.CountAsync(database, "SELECT count(*) FROM notes")).ShouldBe(1);
    }

    [Test]
    public async Task Should_Roll_Back_A_Migration_That_Fails_Halfway_And_Keep_The_Ones_Before()
    {
        // Given a third migration whose second statement fails
        var database = await _server.CreateDatabaseAsync();
        var migrations = Folder(
            ("001_create_notes.expand.sql", CreateNotes),
            ("002_add_author.expand.sql", AddAuthor),
            ("003_add_tags.expand.sql", "ALTER TABLE notes ADD COLUMN tags text;\nINSERT INTO no_such_table VALUES (1);\n"),
            ("004_add_pinned.expand.sql", "ALTER TABLE notes ADD COLUMN pinned boolean DEFAULT false;\n"));

        // When the expand phase runs
        var error = await Should.ThrowAsync<MigrationFailedException>(() => Runner(database).ApplyPendingAsync(migrations, MigrationPhase.Expand, "d1"));

        // Then the failure names the file, line and cause; 003's first statement is undone; 004 never ran
        error.Migration.Id.ShouldBe("003_add_tags");
        error.ExitCode.ShouldBe(3);
        error.Message.ShouldStartWith("Applying migrations/003_add_tags.expand.sql failed (psql exited with 3): psql:/pipeline/migrations/003_add_tags.expand.sql:2: ERROR:  relation \"no_such_table\" does not exist");
        error.Message.ShouldEndWith("; its transaction was rolled back, so the schema and pipeline_migrations are as they were before it.");
        (await _server.ColumnsAsync(database, "notes")).ShouldBe(["id", "body", "author"]);
        (await _server.MigrationRowsAsync(database)).ShouldBe(["1 create_notes expand", "2 add_author expand"]);
    }

    [Test]
    public async Task Should_Roll_Back_The_First_Migration_Without_Leaving_A_Migrations_Table()
    {
        // Given a first migration that fails
        var database = await _server.CreateDatabaseAsync();
        var migrations = Folder(("001_create_notes.expand.sql", "CREATE TABLE notes (id int);\nSELECT 1/0;\n"));

        // When it runs / Then neither its table nor pipeline_migrations exist afterwards
        await Should.ThrowAsync<MigrationFailedException>(() => Runner(database).ApplyPendingAsync(migrations, MigrationPhase.Expand, "d1"));
        (await _server.ColumnsAsync(database, "notes")).ShouldBeEmpty();
        (await _server.ColumnsAsync(database, "pipeline_migrations")).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Say_The_Database_Is_Unreachable_Without_Showing_The_Password()
    {
        // Given a URL whose port is closed (the runner's own loopback) and one whose password is wrong
        var migrations = Folder(("001_create_notes.expand.sql", CreateNotes));
        var password = _server.Report.Url.Password;
        var closed = DatabaseUrl.Create("127.0.0.1", 1, "app", password, "app");
        var wrongPassword = DatabaseUrl.Create(_server.Options.ContainerName, 5432, "app", "not-" + password, "app");

        // When the runner tries either
        var refused = await Should.ThrowAsync<DatabaseUnreachableException>(() => Runner(closed).ApplyPendingAsync(migrations, MigrationPhase.Expand, "d1"));
        var denied = await Should.ThrowAsync<DatabaseUnreachableException>(() => Runner(wrongPassword).ApplyPendingAsync(migrations, MigrationPhase.Expand, "d1"));

        // Then each names the database (password as ***), the network and psql's reason, and nothing ran
        refused.Message.ShouldStartWith($"Cannot reach the database postgres://app:***@127.0.0.1:1/app from a container on network {_server.Network} (pipeline-migrations-");
        refused.Message.ShouldContain("Connection refused");
        refused.Message.ShouldEndWith("Nothing was run. Check that the database runs on that network and the DATABASE_URL's host, port, user and password.");
        denied.Message.ShouldContain("password authentication failed for user \"app\"");
        refused.Message.ShouldNotContain(password);
        denied.Message.ShouldNotContain(password);
    }

    [Test]
    public async Task Should_Revert_An_Expand_Migration_With_Its_Down_Script_Once()
    {
        // Given 002 applied, with a down script
        var database = await _server.CreateDatabaseAsync();
        var migrations = Folder(("001_create_notes.expand.sql", CreateNotes), ("002_add_author.expand.sql", AddAuthor), ("002_add_author.down.sql", "ALTER TABLE notes DROP COLUMN author;\n"));
        await Runner(database).ApplyPendingAsync(migrations, MigrationPhase.Expand, "d1");

        // When it is reverted from its journal arguments (as a rollback in another process would), twice
        var (fromJournal, deployId) = MigrationUndo.FromArguments(MigrationUndo.Arguments(migrations.Migrations[1], "d1"));
        await using var session = await Runner(database).OpenAsync();
        var otherDeploy = await session.RevertAsync(fromJournal, appliedBy: "d0");
        var first = await session.RevertAsync(fromJournal, deployId);
        var second = await session.RevertAsync(fromJournal, deployId);
        otherDeploy.ShouldBeFalse();

        // Then the column and the row are gone once; the second call finds nothing to do
        (first, second).ShouldBe((true, false));
        (await _server.ColumnsAsync(database, "notes")).ShouldBe(["id", "body"]);
        (await _server.MigrationRowsAsync(database)).ShouldBe(["1 create_notes expand"]);
    }

    [Test]
    public async Task Should_Refuse_To_Run_When_An_Applied_Migration_Changed()
    {
        // Given 001 applied, then edited
        var database = await _server.CreateDatabaseAsync();
        await Runner(database).ApplyPendingAsync(Folder(("001_create_notes.expand.sql", CreateNotes)), MigrationPhase.Expand, "d1");
        var edited = Folder(("001_create_notes.expand.sql", CreateNotes + "-- edited\n"), ("002_add_author.expand.sql", AddAuthor));

        // When the expand phase runs / Then nothing runs and the file is named
        var error = await Should.ThrowAsync<MigrationHistoryException>(() => Runner(database).ApplyPendingAsync(edited, MigrationPhase.Expand, "d2"));
        error.Problems.ShouldHaveSingleItem().ShouldStartWith("migrations/001_create_notes.expand.sql was applied on ");
        (await _server.ColumnsAsync(database, "notes")).ShouldBe(["id", "body"]);
    }

    [Test]
    public async Task Should_Remove_Its_Container_And_Leave_The_Table_Unchanged_When_A_Migration_Runs_Out_Of_Time()
    {
        // Given 001 applied, then a migration that changes the schema and sleeps longer than the runner allows
        var database = await _server.CreateDatabaseAsync();
        await Runner(database).ApplyPendingAsync(Folder(("001_create_notes.expand.sql", CreateNotes)), MigrationPhase.Expand, "d1");
        var migrations = Folder(("002_slow.expand.sql", "ALTER TABLE notes ADD COLUMN slow int;\nSELECT pg_sleep(120);\n"));

        // When it runs with a 3 s limit
        var error = await Should.ThrowAsync<MigrationFailedException>(() => Runner(database, TimeSpan.FromSeconds(3)).ApplyPendingAsync(migrations, MigrationPhase.Expand, "d2"));

        // Then the container was removed, the server rolled the transaction back: no column, no row
        error.Message.ShouldStartWith("Applying migrations/002_slow.expand.sql did not finish within 3 s; ended its server session and removed its container pipeline-migrations-");
        (await RunnerContainersAsync()).ShouldBeEmpty();
        await WaitUntilAsync(async () => await _server.CountAsync(database, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pipeline-migrations-%'") == 0);
        (await _server.ColumnsAsync(database, "notes")).ShouldBe(["id", "body"]);
        (await _server.MigrationRowsAsync(database)).ShouldBe(["1 create_notes expand"]);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var attempt = 0; attempt < 150 && !await condition(); attempt++)
        {
            await Task.Delay(200);
        }
    }
}
