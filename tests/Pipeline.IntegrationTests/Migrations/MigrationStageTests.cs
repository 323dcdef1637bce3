using System.Net;
using Pipeline.IntegrationTests.Recovery;
using Pipeline.Migrations;

namespace Pipeline.IntegrationTests.Migrations;

/// <summary>
/// The deploy with database changes, against a real PostgreSQL: expand before the new colour starts (Migrate), the
/// live colour's own tests against the migrated schema (LiveReleaseTests), contract only after retire, and recovery
/// from a pipeline killed mid-migration.
/// </summary>
[NonParallelizable]
public sealed class MigrationStageTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);
    private PipelineHarness _harness = null!;
    private PostgresServer _database = null!;
    private DatabaseUrl _url = null!;
    private string _root = null!;
    private string _service = null!;
    private int _versions;

    [SetUp]
    public async Task StartEverything()
    {
        _harness = new PipelineHarness("haproxy");
        _database = await PostgresServer.StartAsync(_harness.Network);
        _url = await _database.CreateDatabaseAsync();
        _root = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("pipeline-migrate"));
        _service = TestEnvironment.UniqueName("notes");
    }

    [TearDown]
    public async Task StopEverything()
    {
        await _database.DisposeAsync();
        _harness.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>A version of examples/notes: its migrations 001 and 002, plus <paramref name="migrations"/>; <paramref name="change"/> edits its files.</summary>
    private string Notes(IReadOnlyDictionary<string, string>? migrations = null, Action<string>? change = null)
    {
        var folder = NotesDeployTests.CopyNotes(_root, $"v{++_versions}");
        File.Delete(Path.Combine(folder, "migrations", "003_drop_title.contract.sql"));
        foreach (var (name, sql) in migrations ?? new Dictionary<string, string>())
        {
            File.WriteAllText(Path.Combine(folder, "migrations", name), sql);
        }

        change?.Invoke(folder);
        return folder;
    }

    private Configuration.DeploymentOptions Options(string folder, string version) =>
        _harness.OptionsFor(folder, version, service: _service) with { ReleaseEnvironment = new Dictionary<string, string> { ["DATABASE_URL"] = _url.Value } };

    /// <summary>Runs the pipeline in-process and returns its exit code and everything it printed.</summary>
    private (int Exit, string Output) Run(string folder, string version, string target = "Deploy")
    {
        var (originalOut, originalError) = (Console.Out, Console.Error);
        using var output = new StringWriter();
        var synchronized = TextWriter.Synchronized(output);
        Console.SetOut(synchronized);
        Console.SetError(synchronized);
        try
        {
            var exit = PipelineHarness.Run(Options(folder, version), target);
            return (exit, System.Text.RegularExpressions.Regex.Replace(output.ToString(), "\u001b\\[[0-9;]*m", ""));
        }
        finally
        {
            Console.SetOut(originalOut);
            Console.SetError(originalError);
            TestContext.Out.WriteLine(output.ToString());
        }
    }

    private async Task DeployFirstAsync()
    {
        var (exit, output) = Run(Notes(), "1.0.0");
        exit.ShouldBe(0, output);
        (await _database.MigrationRowsAsync(_url)).ShouldBe(["1 create_notes expand", "2 add_author expand"]);
    }

    [Test]
    public async Task Should_Deploy_A_Compatible_Change_With_Both_Colours_Passing_And_No_Password_In_The_Log()
    {
        // Given 1.0.0 live in blue (its migrations applied by its own deploy)
        await DeployFirstAsync();

        // When 2.0.0 adds a nullable column
        var (exit, output) = Run(Notes(new Dictionary<string, string> { ["004_add_pinned.expand.sql"] = "ALTER TABLE notes ADD COLUMN pinned boolean;\n" }), "2.0.0");

        // Then the migration ran before the new colour, blue passed its own tests against it, and green went live
        exit.ShouldBe(0, output);
        output.ShouldContain("Migrate: applied 004_add_pinned (2 applied before).");
        output.ShouldContain($"The live release {_service} 1.0.0 (blue) runs its own post-integration tests against the schema after 004_add_pinned.");
        output.ShouldContain("[live] [post-integration] PASS: post-integration");
        output.IndexOf("[live] [post-integration] PASS", StringComparison.Ordinal).ShouldBeLessThan(output.IndexOf($"deploying 2.0.0 as green", StringComparison.Ordinal));
        (await _database.MigrationRowsAsync(_url)).ShouldBe(["1 create_notes expand", "2 add_author expand", "4 add_pinned expand"]);
        (await _database.ColumnsAsync(_url, "notes")).ShouldContain("pinned");
        var (status, color, body) = await _harness.GetThroughProxyAsync();
        (status, color).ShouldBe((HttpStatusCode.OK, "green"));
        body.ShouldContain("2.0.0 (green)");
        output.ShouldNotContain(_url.Password);
    }

    [Test]
    public async Task Should_Refuse_A_Destructive_Expand_Migration_Before_Anything_Changes()
    {
        // Given 1.0.0 live in blue
        await DeployFirstAsync();
        var before = await _harness.SnapshotAsync(_service);
        var columns = await _database.ColumnsAsync(_url, "notes");

        // When 2.0.0 drops a column in an expand migration
        var (exit, output) = Run(Notes(new Dictionary<string, string> { ["004_drop_author.expand.sql"] = "ALTER TABLE notes\n  DROP COLUMN author;\n" }), "2.0.0");

        // Then it is refused at Preflight, naming the statement and the rule; production and the schema are unchanged
        exit.ShouldNotBe(0);
        output.ShouldContain("migrations/004_drop_author.expand.sql line 1: `ALTER TABLE notes DROP COLUMN author` drops column notes.author (rule drop)");
        output.ShouldNotContain("Migrate: ");
        before.Diff(await _harness.SnapshotAsync(_service)).ShouldBeEmpty(output);
        (await _database.ColumnsAsync(_url, "notes")).ShouldBe(columns);
        (await _database.MigrationRowsAsync(_url)).ShouldBe(["1 create_notes expand", "2 add_author expand"]);
    }

    [Test]
    public async Task Should_Roll_Back_When_The_Live_Release_Fails_Its_Own_Tests_Against_The_Migrated_Schema()
    {
        // Given 1.0.0 live in blue
        await DeployFirstAsync();
        var before = await _harness.SnapshotAsync(_service);

        // When 2.0.0 adds a column its own code fills and a constraint 1.0.0's inserts break (the static gate lets it
        // through: it adds), with a down script
        var folder = Notes(
            new Dictionary<string, string>
            {
                ["004_require_source.expand.sql"] = "ALTER TABLE notes ADD COLUMN source text;\nALTER TABLE notes ADD CONSTRAINT source_given CHECK (source IS NOT NULL) NOT VALID;\n",
                ["004_require_source.down.sql"] = "ALTER TABLE notes DROP CONSTRAINT IF EXISTS source_given;\nALTER TABLE notes DROP COLUMN IF EXISTS source;\n",
            },
            dir => File.WriteAllText(Path.Combine(dir, "serve.py"), File.ReadAllText(Path.Combine(dir, "serve.py")).Replace(
                "INSERT INTO notes (body, author) VALUES (%s, %s)", "INSERT INTO notes (body, author, source) VALUES (%s, %s, 'v2')", StringComparison.Ordinal)));
        var (exit, output) = Run(folder, "2.0.0");

        // Then blue's own tests caught it before green started, and the rollback reverted 004 with its down script
        exit.ShouldNotBe(0);
        output.ShouldContain($"LiveReleaseTests failed: the live release {_service} 1.0.0 (blue) fails its own post-integration tests against the schema after 004_require_source");
        output.ShouldContain("reverted expand migration 004_require_source with 004_require_source.down.sql");
        output.ShouldNotContain("deploying 2.0.0 as green");
        (await _database.ColumnsAsync(_url, "notes")).ShouldNotContain("source");
        (await _database.MigrationRowsAsync(_url)).ShouldBe(["1 create_notes expand", "2 add_author expand"]);
        (await _database.CountAsync(_url, "SELECT count(*) FROM pg_constraint WHERE conname = 'source_given'")).ShouldBe(0);
        before.Diff(await _harness.SnapshotAsync(_service)).ShouldBeEmpty(output);
        var (status, color, _) = await _harness.GetThroughProxyAsync();
        (status, color).ShouldBe((HttpStatusCode.OK, "blue"));
    }

    [Test]
    public async Task Should_Run_A_Contract_Migration_Only_After_The_Old_Release_Is_Retired()
    {
        // Given 1.0.0 live in blue, and 2.0.0 that stops using title and drops it in a contract migration
        await DeployFirstAsync();
        var contract = new Dictionary<string, string> { ["003_drop_title.contract.sql"] = "ALTER TABLE notes DROP COLUMN title;\n" };

        // When --target=Contract runs while 1.0.0 is deployed, and a 2.0.0 deploy fails its post-integration tests
        var (early, earlyOutput) = Run(Notes(contract), "2.0.0", "Contract");
        var failing = Notes(contract, dir => File.WriteAllText(Path.Combine(dir, "tests.py"), File.ReadAllText(Path.Combine(dir, "tests.py")).Replace(
            "def post_integration():\n", "def post_integration():\n    fail(\"failing post-integration on purpose\")\n", StringComparison.Ordinal)));
        var (failed, failedOutput) = Run(failing, "2.0.0");

        // Then neither ran the contract migration: title is still there
        early.ShouldNotBe(0);
        earlyOutput.ShouldContain($"Contract migrations of {_service} 2.0.0 wait until no older release is deployed, but {_service}-blue-");
        failed.ShouldNotBe(0);
        failedOutput.ShouldContain("PostIntegrationTests failed");
        (await _database.ColumnsAsync(_url, "notes")).ShouldContain("title");

        // When 2.0.0 deploys successfully
        var (exit, output) = Run(Notes(contract), "2.0.0");

        // Then the contract ran after the old colour was removed, journaled as a point of no return, and title is gone
        exit.ShouldBe(0, output);
        var removedBlue = output.IndexOf($"Removed {_service}-blue-", StringComparison.Ordinal);
        var contracted = output.IndexOf("Contract: applied 003_drop_title. This is a point of no return", StringComparison.Ordinal);
        removedBlue.ShouldBeGreaterThan(0, output);
        contracted.ShouldBeGreaterThan(removedBlue, output);
        (await _database.ColumnsAsync(_url, "notes")).ShouldNotContain("title");
        (await _database.MigrationRowsAsync(_url)).ShouldBe(["1 create_notes expand", "2 add_author expand", "3 drop_title contract"]);
        (await _harness.SnapshotAsync(_service)).RegistryKeys.Keys.ShouldNotContain(k => k.Contains("/journal/"));
        (await _harness.GetThroughProxyAsync()).Color.ShouldBe("green");
    }

    [Test]
    public async Task Should_Recover_A_Pipeline_Killed_Mid_Migration_With_The_Migrations_Table_Consistent()
    {
        // Given 1.0.0 live in blue, and a 2.0.0 deploy SIGKILLed while its migration runs (it changes the schema, then
        // waits: in production only, not in the pre-deployment tests' private database "notes")
        await DeployFirstAsync();
        var before = await _harness.SnapshotAsync(_service);
        var folder = Notes(new Dictionary<string, string>
        {
            ["004_slow.expand.sql"] = "ALTER TABLE notes ADD COLUMN slow int;\nSELECT pg_sleep(CASE WHEN current_database() = 'notes' THEN 0 ELSE 120 END);\n",
            ["004_slow.down.sql"] = "ALTER TABLE notes DROP COLUMN IF EXISTS slow;\n",
        });
        var arguments = PipelineProcess.IsolatedArguments(_harness, folder, _service);
        arguments.Add("--release-env=DATABASE_URL");
        var environment = new Dictionary<string, string> { ["DATABASE_URL"] = _url.Value };
        using (var deploy = PipelineProcess.Start("Deploy", "2.0.0", arguments, environment: environment))
        {
            await deploy.WaitForLineAsync("Applying migrations/004_slow.expand.sql", RunTimeout);
            await WaitUntilAsync(async () => await _database.CountAsync(_url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(CASE%' AND pid <> pg_backend_pid()") == 1);
            await deploy.KillAsync();
        }

        // When --target=Rollback runs
        using var rollback = PipelineProcess.Start("Rollback", "2.0.0", arguments, environment: environment);
        (await rollback.WaitForExitAsync(RunTimeout)).ShouldBe(0, rollback.Output);

        // Then the runner's session was ended (its transaction rolled back), nothing of 004 is left, and production is as before
        rollback.Output.ShouldContain($"stopped migration runner {_service}-migrations-");
        rollback.Output.ShouldNotContain(_url.Password);
        (await _database.CountAsync(_url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(CASE%' AND pid <> pg_backend_pid()")).ShouldBe(0);
        (await _database.ColumnsAsync(_url, "notes")).ShouldNotContain("slow");
        (await _database.MigrationRowsAsync(_url)).ShouldBe(["1 create_notes expand", "2 add_author expand"]);
        before.Diff(await _harness.SnapshotAsync(_service)).ShouldBeEmpty(rollback.Output);
        (await _harness.GetThroughProxyAsync()).Color.ShouldBe("blue");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        for (var attempt = 0; attempt < 300 && !await condition(); attempt++)
        {
            await Task.Delay(100);
        }
    }
}
