using System.Globalization;

namespace Pipeline.Migrations;

/// <summary>A row of the <c>pipeline_migrations</c> table: a migration that was applied.</summary>
/// <param name="Number">Its number.</param>
/// <param name="Name">Its name.</param>
/// <param name="Phase"><c>expand</c> or <c>contract</c>.</param>
/// <param name="Checksum">The SHA-256 of the file that was applied.</param>
/// <param name="DeployId">The deploy that applied it, or null.</param>
/// <param name="AppliedAt">When its transaction ran.</param>
public sealed record AppliedMigration(int Number, string Name, string Phase, string Checksum, string? DeployId, DateTimeOffset AppliedAt)
{
    /// <summary>How messages name it: <c>002_add_author (expand)</c>.</summary>
    public override string ToString() => $"{Number:000}_{Name} ({Phase})";
}

/// <summary>
/// What one phase would apply: the folder's migrations of that phase not yet in <c>pipeline_migrations</c>, checked
/// against what is: an applied file that changed, a migration numbered below one already applied, or a contract
/// migration whose earlier expand migrations have not run are refused before anything runs.
/// </summary>
/// <param name="Phase">The phase planned.</param>
/// <param name="Pending">What would run, in order.</param>
/// <param name="AlreadyApplied">The phase's migrations that are applied (skipped).</param>
/// <param name="NotInFolder">Applied migrations the folder no longer has (an older release's folder; left alone).</param>
public sealed record MigrationPlan(MigrationPhase Phase, IReadOnlyList<Migration> Pending, IReadOnlyList<Migration> AlreadyApplied, IReadOnlyList<AppliedMigration> NotInFolder)
{
    /// <summary>Plans <paramref name="phase"/> for <paramref name="migrations"/> given the rows of <c>pipeline_migrations</c>.</summary>
    /// <exception cref="MigrationHistoryException">The folder and the table disagree; each problem names the file and the fix.</exception>
    public static MigrationPlan Create(MigrationSet migrations, MigrationPhase phase, IReadOnlyList<AppliedMigration> applied)
    {
        var problems = new List<string>();
        var byNumber = applied.ToDictionary(a => a.Number);
        foreach (var migration in migrations.Migrations)
        {
            if (!byNumber.TryGetValue(migration.Number, out var row))
            {
                continue;
            }

            var file = $"{MigrationSet.FolderName}/{migration.Script.FileName}";
            var when = $"on {row.AppliedAt.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)}{(row.DeployId is null ? "" : $" by deploy {row.DeployId}")}";
            if (row.Name != migration.Name || row.Phase != migration.Phase.ToContractName())
            {
                problems.Add($"{file}: number {migration.Number:000} was applied {when} as {row}; an applied migration keeps its number, name and phase; give this one a new number after the last");
            }
            else if (row.Checksum != migration.Script.Checksum)
            {
                problems.Add($"{file} was applied {when} with checksum {row.Checksum[..12]}…, but the file now has {migration.Script.Checksum[..12]}…; an applied migration must not change: undo the edit and put the change in a new migration");
            }
        }

        var pending = migrations.Of(phase).Where(m => !byNumber.ContainsKey(m.Number)).ToList();
        var lastApplied = applied.Where(a => a.Phase == phase.ToContractName()).OrderBy(a => a.Number).LastOrDefault();
        if (lastApplied is { } last)
        {
            foreach (var migration in pending.Where(m => m.Number < last.Number))
            {
                problems.Add($"{MigrationSet.FolderName}/{migration.Script.FileName} is pending but {last} is already applied; number new migrations after the last applied one (e.g. {last.Number + 1:000}_{migration.Name}.{phase.ToContractName()}.sql)");
            }
        }

        if (phase == MigrationPhase.Contract)
        {
            foreach (var migration in pending)
            {
                var missing = migrations.Of(MigrationPhase.Expand).Where(e => e.Number < migration.Number && !byNumber.ContainsKey(e.Number)).ToList();
                if (missing.Count > 0)
                {
                    problems.Add($"{MigrationSet.FolderName}/{migration.Script.FileName} would run before the expand migration(s) {string.Join(", ", missing.Select(m => m.Id))} it comes after; deploy the release that applies them first");
                }
            }
        }

        if (problems.Count > 0)
        {
            throw new MigrationHistoryException(problems);
        }

        var numbers = migrations.Migrations.Select(m => m.Number).ToHashSet();
        return new MigrationPlan(
            phase,
            pending,
            migrations.Of(phase).Where(m => byNumber.ContainsKey(m.Number)).ToList(),
            applied.Where(a => !numbers.Contains(a.Number)).ToList());
    }
}

/// <summary>The migrations folder and the database's <c>pipeline_migrations</c> table disagree; nothing was run.</summary>
/// <param name="problems">One line per problem, each naming its file and the fix.</param>
public sealed class MigrationHistoryException(IReadOnlyList<string> problems)
    : Exception("The migrations folder does not match what the database has applied (nothing was run):\n" + string.Join('\n', problems.Select(p => "  " + p)))
{
    /// <summary>One line per problem.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
