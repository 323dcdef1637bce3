using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Migrations;

/// <summary>
/// A service's migrations, read from its <c>migrations/</c> folder and checked: every file is
/// <c>NNN_name.expand.sql</c>, <c>NNN_name.contract.sql</c> or <c>NNN_name.down.sql</c> (beside the expand it undoes),
/// numbers are unique, and every script tokenises and runs inside one transaction (no psql meta-commands, no
/// transaction control, nothing that cannot run in a transaction block).
/// </summary>
public sealed partial class MigrationSet
{
    /// <summary>The folder, inside a service's folder, that holds its migrations.</summary>
    public const string FolderName = "migrations";

    private MigrationSet(string directory, IReadOnlyList<Migration> migrations)
    {
        Directory = directory;
        Migrations = migrations;
    }

    /// <summary>The migrations folder (it may not exist: then there are no migrations).</summary>
    public string Directory { get; }

    /// <summary>Every migration, by number.</summary>
    public IReadOnlyList<Migration> Migrations { get; }

    /// <summary>The migrations of one phase, by number.</summary>
    public IReadOnlyList<Migration> Of(MigrationPhase phase) => Migrations.Where(m => m.Phase == phase).ToList();

    /// <summary>An empty set (a service without a migrations folder).</summary>
    public static MigrationSet Empty(string directory) => new(directory, []);

    /// <summary>Reads <c>{serviceDirectory}/migrations</c>; a service without that folder has no migrations.</summary>
    /// <exception cref="InvalidMigrationsException">One or more files are misnamed, share a number, or do not parse; each problem names its file.</exception>
    public static MigrationSet LoadFromServiceDirectory(string serviceDirectory) => Load(Path.Combine(serviceDirectory, FolderName));

    /// <summary>Reads a migrations folder; a folder that does not exist holds no migrations.</summary>
    /// <exception cref="InvalidMigrationsException">One or more files are misnamed, share a number, or do not parse; each problem names its file.</exception>
    public static MigrationSet Load(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return Empty(directory);
        }

        var problems = new List<string>();
        var files = new List<(int Number, string Name, string Kind, MigrationScript Script)>();
        foreach (var path in System.IO.Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal))
        {
            var fileName = Path.GetFileName(path);
            if (fileName.StartsWith('.') || fileName.StartsWith("README", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (System.IO.Directory.Exists(path))
            {
                problems.Add($"{FolderName}/{fileName}/: a folder inside {FolderName}/; migrations are files directly in it, named NNN_name.expand.sql, NNN_name.contract.sql or NNN_name.down.sql");
                continue;
            }

            var match = FileNamePattern().Match(fileName);
            if (!match.Success)
            {
                problems.Add($"{FolderName}/{fileName}: misnamed; a migration is NNN_name.expand.sql, NNN_name.contract.sql or NNN_name.down.sql (NNN three or more digits, name lower-case letters, digits and _), e.g. 002_add_author.expand.sql");
                continue;
            }

            if (!int.TryParse(match.Groups["number"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number == 0)
            {
                problems.Add($"{FolderName}/{fileName}: the number must be 1 to {int.MaxValue}, e.g. 001_create_notes.expand.sql");
                continue;
            }

            if (Read(path, fileName, problems) is { } script)
            {
                files.Add((number, match.Groups["name"].Value, match.Groups["kind"].Value, script));
            }
        }

        var migrations = new List<Migration>();
        foreach (var group in files.GroupBy(f => f.Number).OrderBy(g => g.Key))
        {
            var mains = group.Where(f => f.Kind != "down").ToList();
            var downs = group.Where(f => f.Kind == "down").ToList();
            if (mains.Count > 1 || downs.Count > 1)
            {
                problems.Add($"{FolderName}/: number {group.Key:000} is used by {string.Join(", ", group.Select(f => f.Script.FileName))}; each migration needs its own number (a down script shares its expand's number and name)");
                continue;
            }

            if (mains.Count == 0)
            {
                var down = downs[0];
                problems.Add($"{FolderName}/{down.Script.FileName}: a down script without its expand migration; name it after the expand it undoes ({down.Number:000}_{down.Name}.expand.sql)");
                continue;
            }

            var main = mains[0];
            if (downs.Count == 1)
            {
                var down = downs[0];
                if (main.Kind == "contract")
                {
                    problems.Add($"{FolderName}/{down.Script.FileName}: a down script for a contract migration; contract migrations are a point of no return, only an expand migration has a down script");
                    continue;
                }

                if (down.Name != main.Name)
                {
                    problems.Add($"{FolderName}/{down.Script.FileName}: a down script must have its expand's name; rename it {main.Number:000}_{main.Name}.down.sql");
                    continue;
                }
            }

            migrations.Add(new Migration(
                main.Number,
                main.Name,
                main.Kind == "expand" ? MigrationPhase.Expand : MigrationPhase.Contract,
                main.Script,
                downs.Count == 1 ? downs[0].Script : null));
        }

        return problems.Count > 0
            ? throw new InvalidMigrationsException(directory, problems)
            : new MigrationSet(directory, migrations);
    }

    private static MigrationScript? Read(string path, string fileName, List<string> problems)
    {
        string sql;
        try
        {
            sql = File.ReadAllText(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true));
        }
        catch (DecoderFallbackException)
        {
            problems.Add($"{FolderName}/{fileName}: not UTF-8 text; save it as UTF-8");
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{FolderName}/{fileName}: cannot be read ({e.Message})");
            return null;
        }

        IReadOnlyList<SqlStatement> statements;
        try
        {
            statements = SqlScript.Split(sql);
        }
        catch (SqlSyntaxException e)
        {
            problems.Add($"{FolderName}/{fileName} line {e.Line}, column {e.Column}: does not parse: {e.Reason}");
            return null;
        }

        if (statements.Count == 0)
        {
            problems.Add($"{FolderName}/{fileName}: holds no SQL statement; write the migration or remove the file");
            return null;
        }

        var count = problems.Count;
        foreach (var statement in statements)
        {
            if (statement.Tokens.FirstOrDefault(t => t.Kind == SqlTokenKind.Backslash) is { } backslash)
            {
                problems.Add($"{FolderName}/{fileName} line {backslash.Line}: a psql meta-command (\\…) is not allowed in a migration; the runner runs plain SQL, one transaction per file");
            }
            else if (TransactionControl(statement) is { } control)
            {
                problems.Add($"{FolderName}/{fileName} line {statement.Line}: `{statement.Shown()}` controls the transaction ({control}); the runner runs each migration in one transaction with its row in pipeline_migrations, so leave BEGIN/COMMIT out");
            }
            else if (OutsideTransaction(statement) is { } what)
            {
                problems.Add($"{FolderName}/{fileName} line {statement.Line}: `{statement.Shown()}` cannot run inside a transaction block ({what}); the runner runs each migration in one transaction, so do this outside the pipeline");
            }
        }

        return problems.Count > count ? null : new MigrationScript(fileName, path, sql, statements);
    }

    private static string? TransactionControl(SqlStatement statement) =>
        statement.StartsWith("begin") || statement.StartsWith("start", "transaction") ? "it starts a transaction"
        : statement.StartsWith("commit") || statement.StartsWith("end") ? "it commits"
        : statement.StartsWith("rollback") || statement.StartsWith("abort") ? "it rolls back"
        : statement.StartsWith("savepoint") || statement.StartsWith("release") ? "a savepoint"
        : statement.StartsWith("prepare", "transaction") ? "a two-phase commit"
        : null;

    private static string? OutsideTransaction(SqlStatement statement) =>
        statement.Tokens.Any(t => t.Is("concurrently")) && (statement.StartsWith("create") || statement.StartsWith("drop") || statement.StartsWith("reindex") || statement.StartsWith("refresh"))
            ? "CONCURRENTLY"
        : statement.StartsWith("vacuum") ? "VACUUM"
        : statement.StartsWith("create", "database") || statement.StartsWith("drop", "database") ? "CREATE/DROP DATABASE"
        : statement.StartsWith("create", "tablespace") || statement.StartsWith("drop", "tablespace") ? "CREATE/DROP TABLESPACE"
        : statement.StartsWith("alter", "system") ? "ALTER SYSTEM"
        : null;

    [GeneratedRegex(@"^(?<number>[0-9]{3,})_(?<name>[a-z0-9][a-z0-9_]*)\.(?<kind>expand|contract|down)\.sql\z")]
    private static partial Regex FileNamePattern();
}

/// <summary>A migrations folder holds misnamed files, duplicate numbers or scripts that do not parse; nothing was run.</summary>
public sealed class InvalidMigrationsException : Exception
{
    /// <summary>Creates the exception from the folder and its problems.</summary>
    public InvalidMigrationsException(string directory, IReadOnlyList<string> problems)
        : base($"The migrations in {directory} are invalid (nothing was run):\n" + string.Join('\n', problems.Select(p => "  " + p)))
    {
        Directory = directory;
        Problems = problems;
    }

    /// <summary>The migrations folder.</summary>
    public string Directory { get; }

    /// <summary>One line per problem, each naming its file.</summary>
    public IReadOnlyList<string> Problems { get; }
}
