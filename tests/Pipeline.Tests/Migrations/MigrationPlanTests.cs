using Pipeline.Migrations;

namespace Pipeline.Tests.Migrations;

public sealed class MigrationPlanTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), "pipeline-plan-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_folder, recursive: true);

    private MigrationSet Set(params string[] names)
    {
        foreach (var name in names)
        {
            File.WriteAllText(Path.Combine(_folder, name), $"SELECT '{name}';");
        }

        return MigrationSet.Load(_folder);
    }

    private static AppliedMigration Row(Migration m, string? checksum = null) =>
        new(m.Number, m.Name, m.Phase.ToContractName(), checksum ?? m.Script.Checksum, "d0", new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));

    [Test]
    public void Should_Plan_The_Phases_Unapplied_Migrations_In_Order()
    {
        // Given 001 applied, 002 and 004 expand pending, 003 contract pending
        var set = Set("001_a.expand.sql", "002_b.expand.sql", "003_c.contract.sql", "004_d.expand.sql");

        // When the expand phase is planned
        var plan = MigrationPlan.Create(set, MigrationPhase.Expand, [Row(set.Migrations[0])]);

        // Then 002 and 004 are pending, 001 skipped, the contract waits
        plan.Pending.Select(m => m.Id).ShouldBe(["002_b", "004_d"]);
        plan.AlreadyApplied.Select(m => m.Id).ShouldBe(["001_a"]);
    }

    [Test]
    public void Should_Allow_A_Contract_After_Later_Expands_Were_Applied()
    {
        // Given expand 001, 002 and 004 applied (the next release's expand ran before this contract)
        var set = Set("001_a.expand.sql", "002_b.expand.sql", "003_c.contract.sql", "004_d.expand.sql");
        var applied = new[] { Row(set.Migrations[0]), Row(set.Migrations[1]), Row(set.Migrations[3]) };

        // When the contract phase is planned / Then 003 runs
        MigrationPlan.Create(set, MigrationPhase.Contract, applied).Pending.Select(m => m.Id).ShouldBe(["003_c"]);
    }

    [Test]
    public void Should_Keep_Rows_An_Older_Folder_Does_Not_Have()
    {
        // Given a folder from an older release that lacks 002, which the database has
        var set = Set("001_a.expand.sql");
        var newer = new AppliedMigration(2, "b", "expand", new string('0', 64), "d1", DateTimeOffset.UnixEpoch);

        // When planned / Then nothing is pending and 002 is reported, not refused
        var plan = MigrationPlan.Create(set, MigrationPhase.Expand, [Row(set.Migrations[0]), newer]);
        plan.Pending.ShouldBeEmpty();
        plan.NotInFolder.ShouldBe([newer]);
    }

    [Test]
    public void Should_Refuse_An_Applied_File_That_Changed()
    {
        var set = Set("001_a.expand.sql");
        var error = Should.Throw<MigrationHistoryException>(() => MigrationPlan.Create(set, MigrationPhase.Expand, [Row(set.Migrations[0], checksum: new string('a', 64))]));
        error.Problems.ShouldBe([$"migrations/001_a.expand.sql was applied on 2026-11-30 09:00:00Z by deploy d0 with checksum aaaaaaaaaaaa…, but the file now has {set.Migrations[0].Script.Checksum[..12]}…; an applied migration must not change: undo the edit and put the change in a new migration"]);
    }

    [Test]
    public void Should_Refuse_A_Number_Applied_Under_Another_Name_Or_Phase()
    {
        var set = Set("001_a.expand.sql");
        var other = new AppliedMigration(1, "z", "contract", set.Migrations[0].Script.Checksum, null, new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));
        Should.Throw<MigrationHistoryException>(() => MigrationPlan.Create(set, MigrationPhase.Expand, [other])).Problems
            .ShouldBe(["migrations/001_a.expand.sql: number 001 was applied on 2026-11-30 09:00:00Z as 001_z (contract); an applied migration keeps its number, name and phase; give this one a new number after the last"]);
    }

    [Test]
    public void Should_Refuse_A_Pending_Migration_Numbered_Below_The_Last_Applied()
    {
        // Given 003 applied and 002 new (merged late)
        var set = Set("001_a.expand.sql", "002_late.expand.sql", "003_c.expand.sql");
        var error = Should.Throw<MigrationHistoryException>(() => MigrationPlan.Create(set, MigrationPhase.Expand, [Row(set.Migrations[0]), Row(set.Migrations[2])]));
        error.Problems.ShouldBe(["migrations/002_late.expand.sql is pending but 003_c (expand) is already applied; number new migrations after the last applied one (e.g. 004_late.expand.sql)"]);
    }

    [Test]
    public void Should_Refuse_A_Contract_Before_The_Expands_It_Follows()
    {
        var set = Set("001_a.expand.sql", "002_b.expand.sql", "003_c.contract.sql");
        var error = Should.Throw<MigrationHistoryException>(() => MigrationPlan.Create(set, MigrationPhase.Contract, [Row(set.Migrations[0])]));
        error.Problems.ShouldBe(["migrations/003_c.contract.sql would run before the expand migration(s) 002_b it comes after; deploy the release that applies them first"]);
        error.Message.ShouldStartWith("The migrations folder does not match what the database has applied (nothing was run):\n  migrations/003_c");
    }
}
