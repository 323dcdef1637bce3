namespace Pipeline.Migrations;

/// <summary>
/// What a journal step needs to revert an expand migration after the run that applied it is gone: its number, name,
/// checksum, the deploy that applied it and its down script's text (so a rollback from another checkout reverts
/// exactly what was applied). Never the database URL: the rollback takes that from its own options.
/// </summary>
public static class MigrationUndo
{
    /// <summary>The journal arguments for reverting <paramref name="migration"/> (applied by <paramref name="deployId"/>).</summary>
    /// <exception cref="ArgumentException">The migration has no down script.</exception>
    public static IReadOnlyDictionary<string, string?> Arguments(Migration migration, string deployId)
    {
        ArgumentNullException.ThrowIfNull(migration);
        var down = migration.Down ?? throw new ArgumentException($"{migration} has no down script.", nameof(migration));
        return new Dictionary<string, string?>
        {
            ["number"] = migration.Number.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["name"] = migration.Name,
            ["file"] = migration.Script.FileName,
            ["checksum"] = migration.Script.Checksum,
            ["deployId"] = deployId,
            ["downFile"] = down.FileName,
            ["down"] = down.Sql,
        };
    }

    /// <summary>The migration (with its down script) and the deploy that applied it, from journal arguments.</summary>
    /// <exception cref="FormatException">An argument is missing or the down script does not parse.</exception>
    public static (Migration Migration, string DeployId) FromArguments(IReadOnlyDictionary<string, string?> arguments)
    {
        string Required(string name) => arguments.TryGetValue(name, out var value) && value is not null
            ? value
            : throw new FormatException($"the journal step lacks its '{name}' argument");

        var downSql = Required("down");
        IReadOnlyList<SqlStatement> statements;
        try
        {
            statements = SqlScript.Split(downSql);
        }
        catch (SqlSyntaxException e)
        {
            throw new FormatException($"the down script in the journal does not parse ({e.Message})");
        }

        var script = new AppliedScript(Required("file"), Required("checksum"));
        var migration = new Migration(
            int.Parse(Required("number"), System.Globalization.CultureInfo.InvariantCulture),
            Required("name"),
            MigrationPhase.Expand,
            script.ToScript(),
            new MigrationScript(Required("downFile"), "", downSql, statements));
        return (migration, Required("deployId"));
    }

    /// <summary>An applied migration known by its file name and checksum only (its text is not in the journal).</summary>
    private sealed record AppliedScript(string FileName, string Checksum)
    {
        public MigrationScript ToScript() => new MigrationScript(FileName, "", "", []) { Checksum = Checksum };
    }
}
