using Pipeline.Migrations;

namespace Pipeline.Tests.Migrations;

public sealed class MigrationSetTests
{
    private string _service = null!;

    private string Folder => Path.Combine(_service, MigrationSet.FolderName);

    [SetUp]
    public void CreateServiceFolder()
    {
        _service = Path.Combine(Path.GetTempPath(), "pipeline-migrations-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(_service, MigrationSet.FolderName));
    }

    [TearDown]
    public void RemoveServiceFolder() => Directory.Delete(_service, recursive: true);

    private void Write(string name, string sql = "SELECT 1;") => File.WriteAllText(Path.Combine(Folder, name), sql);

    private InvalidMigrationsException Invalid() =>
        Should.Throw<InvalidMigrationsException>(() => MigrationSet.LoadFromServiceDirectory(_service));

    [Test]
    public void Should_Read_Migrations_In_Number_Order_With_Their_Down_Scripts()
    {
        // Given expand, contract and down files (and a README), written out of order
        Write("010_drop_title.contract.sql", "ALTER TABLE notes DROP COLUMN title;");
        Write("002_add_author.expand.sql", "ALTER TABLE notes ADD COLUMN author text;");
        Write("002_add_author.down.sql", "ALTER TABLE notes DROP COLUMN author;");
        Write("001_create_notes.expand.sql", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);");
        Write("README.md", "how we migrate");

        // When loaded
        var set = MigrationSet.LoadFromServiceDirectory(_service);

        // Then they come by number, each with its phase, and the down script sits with its expand
        set.Migrations.Select(m => m.ToString()).ShouldBe(["001_create_notes (expand)", "002_add_author (expand)", "010_drop_title (contract)"]);
        set.Migrations[1].Down!.FileName.ShouldBe("002_add_author.down.sql");
        set.Migrations[0].Down.ShouldBeNull();
        set.Of(MigrationPhase.Contract).ShouldHaveSingleItem().Number.ShouldBe(10);
        set.Migrations[0].Script.Checksum.ShouldBe(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);"u8)));
    }

    [Test]
    public void Should_Have_No_Migrations_Without_The_Folder()
    {
        Directory.Delete(Folder);
        MigrationSet.LoadFromServiceDirectory(_service).Migrations.ShouldBeEmpty();
    }

    [TestCase("001_create_notes.sql")]
    [TestCase("1_create_notes.expand.sql")]
    [TestCase("001-create-notes.expand.sql")]
    [TestCase("001_Create_Notes.expand.sql")]
    [TestCase("001_create_notes.up.sql")]
    [TestCase("001_create_notes.expand.SQL")]
    [TestCase("create_notes.expand.sql")]
    [TestCase("notes.txt")]
    public void Should_Name_A_Misnamed_File_And_The_Convention(string name)
    {
        // Given a file that does not follow NNN_name.phase.sql
        Write(name);

        // When loaded / Then the file and the convention are named
        Invalid().Problems.ShouldBe([$"migrations/{name}: misnamed; a migration is NNN_name.expand.sql, NNN_name.contract.sql or NNN_name.down.sql (NNN three or more digits, name lower-case letters, digits and _), e.g. 002_add_author.expand.sql"]);
    }

    [Test]
    public void Should_Refuse_Number_Zero_And_Folders()
    {
        Write("000_nothing.expand.sql");
        Directory.CreateDirectory(Path.Combine(Folder, "old"));
        Invalid().Problems.ShouldBe(
        [
            "migrations/000_nothing.expand.sql: the number must be 1 to 2147483647, e.g. 001_create_notes.expand.sql",
            "migrations/old/: a folder inside migrations/; migrations are files directly in it, named NNN_name.expand.sql, NNN_name.contract.sql or NNN_name.down.sql",
        ]);
    }

    [Test]
    public void Should_Name_Every_File_Sharing_A_Number()
    {
        // Given two migrations numbered 2 (one written 0002)
        Write("002_add_author.expand.sql");
        Write("0002_add_tags.contract.sql");

        // When loaded / Then both files are named
        Invalid().Problems.ShouldBe(["migrations/: number 002 is used by 0002_add_tags.contract.sql, 002_add_author.expand.sql; each migration needs its own number (a down script shares its expand's number and name)"]);
    }

    [Test]
    public void Should_Refuse_Down_Scripts_Without_An_Expand_Or_For_A_Contract()
    {
        Write("003_orphan.down.sql");
        Write("004_drop_title.contract.sql");
        Write("004_drop_title.down.sql");
        Write("005_add_x.expand.sql");
        Write("005_add_y.down.sql");
        Invalid().Problems.ShouldBe(
        [
            "migrations/003_orphan.down.sql: a down script without its expand migration; name it after the expand it undoes (003_orphan.expand.sql)",
            "migrations/004_drop_title.down.sql: a down script for a contract migration; contract migrations are a point of no return, only an expand migration has a down script",
            "migrations/005_add_y.down.sql: a down script must have its expand's name; rename it 005_add_x.down.sql",
        ]);
    }

    [Test]
    public void Should_Name_The_File_Line_And_Column_Of_A_Script_That_Does_Not_Parse()
    {
        // Given a migration with an unterminated string on line 2
        Write("001_create_notes.expand.sql", "CREATE TABLE notes (id int);\nINSERT INTO notes VALUES ('oops);\n");

        // When loaded / Then the file, the place and the reason are named
        Invalid().Problems.ShouldBe(["migrations/001_create_notes.expand.sql line 2, column 27: does not parse: the string constant opened here is never closed (no matching ')"]);
    }

    [TestCase("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;", "line 1: `BEGIN` controls the transaction (it starts a transaction)")]
    [TestCase("CREATE TABLE a (id int);\ncommit", "line 2: `commit` controls the transaction (it commits)")]
    [TestCase("SAVEPOINT s", "line 1: `SAVEPOINT s` controls the transaction (a savepoint)")]
    public void Should_Refuse_Transaction_Control(string sql, string problem)
    {
        Write("001_a.expand.sql", sql);
        Invalid().Problems[0].ShouldBe($"migrations/001_a.expand.sql {problem}; the runner runs each migration in one transaction with its row in pipeline_migrations, so leave BEGIN/COMMIT out");
    }

    [TestCase("CREATE INDEX CONCURRENTLY notes_author ON notes (author)", "CONCURRENTLY")]
    [TestCase("VACUUM notes", "VACUUM")]
    [TestCase("CREATE DATABASE other", "CREATE/DROP DATABASE")]
    [TestCase("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM")]
    public void Should_Refuse_What_Cannot_Run_In_A_Transaction(string sql, string what)
    {
        Write("001_a.expand.sql", sql);
        Invalid().Problems.ShouldBe([$"migrations/001_a.expand.sql line 1: `{sql}` cannot run inside a transaction block ({what}); the runner runs each migration in one transaction, so do this outside the pipeline"]);
    }

    [Test]
    public void Should_Refuse_Psql_Meta_Commands_And_Empty_Files()
    {
        Write("001_a.expand.sql", "CREATE TABLE a (id int);\n\\i other.sql\n");
        Write("002_b.expand.sql", "-- nothing yet\n");
        Invalid().Problems.ShouldBe(
        [
            "migrations/001_a.expand.sql line 2: a psql meta-command (\\…) is not allowed in a migration; the runner runs plain SQL, one transaction per file",
            "migrations/002_b.expand.sql: holds no SQL statement; write the migration or remove the file",
        ]);
    }

    [Test]
    public void Should_Name_A_File_That_Is_Not_Utf8()
    {
        File.WriteAllBytes(Path.Combine(Folder, "001_a.expand.sql"), [0x53, 0x45, 0xff, 0xfe]);
        Invalid().Problems.ShouldBe(["migrations/001_a.expand.sql: not UTF-8 text; save it as UTF-8"]);
    }

    [Test]
    public void Should_Name_The_Folder_And_Say_Nothing_Ran()
    {
        Write("1_a.expand.sql");
        Invalid().Message.ShouldStartWith($"The migrations in {Folder} are invalid (nothing was run):\n  migrations/1_a.expand.sql: misnamed;");
    }
}
