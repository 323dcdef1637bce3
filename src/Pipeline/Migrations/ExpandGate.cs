namespace Pipeline.Migrations;

/// <summary>The rules of the static gate: what an expand migration may not do while the old release is live.</summary>
public static class ExpandRules
{
    /// <summary>Drops a table, view, sequence, schema, type, function or column.</summary>
    public const string Drop = "drop";

    /// <summary>Renames a table, column, view, sequence, schema, type or function (or moves it to another schema).</summary>
    public const string Rename = "rename";

    /// <summary>Changes a column's type.</summary>
    public const string ColumnType = "column-type";

    /// <summary>Adds a NOT NULL (or PRIMARY KEY) column without a default.</summary>
    public const string NotNullWithoutDefault = "not-null-without-default";

    /// <summary>Sets NOT NULL on an existing column.</summary>
    public const string SetNotNull = "set-not-null";

    /// <summary>Deletes every row of a table.</summary>
    public const string Truncate = "truncate";
}

/// <summary>One statement of an expand migration that the gate refuses.</summary>
/// <param name="Migration">The migration.</param>
/// <param name="Statement">The statement.</param>
/// <param name="Rule">The rule it breaks (<see cref="ExpandRules"/>).</param>
/// <param name="What">What the statement does, e.g. <c>drops column notes.title</c>.</param>
/// <param name="Why">Why the live release cannot live with it.</param>
public sealed record GateViolation(Migration Migration, SqlStatement Statement, string Rule, string What, string Why)
{
    /// <summary>One line naming the file, line, statement, rule and the way out.</summary>
    public string Message =>
        $"{MigrationSet.FolderName}/{Migration.Script.FileName} line {Statement.Line}: `{Statement.Shown()}` {What} (rule {Rule}): {Why}. "
        + $"Expand migrations run while the old release is live and may only add; move this to a contract migration "
        + $"(NNN_name.contract.sql, numbered after {Migration.Id}), which runs only after the old release is retired.";
}

/// <summary>
/// The static gate: reads every expand migration's statements and refuses the ones the live (old) release cannot
/// survive — dropping or renaming a column or table, changing a column's type, adding a NOT NULL column without a
/// default, setting NOT NULL on an existing column, truncating a table. Tables created earlier in the same
/// migration may be dropped again. Anything subtler (a constraint or trigger the old code violates) is for the
/// dynamic gate: the live colour's own tests against the migrated schema.
/// </summary>
public static class ExpandGate
{
    private static readonly string[] SerialTypes = ["serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"];

    private static readonly string[] ConstraintStarts = ["constraint", "primary", "unique", "check", "foreign", "exclude"];

    /// <summary>Every violation in the set's expand migrations; empty when they may all run.</summary>
    public static IReadOnlyList<GateViolation> Check(MigrationSet migrations) =>
        migrations.Of(MigrationPhase.Expand).SelectMany(Check).ToList();

    /// <summary>Every violation in one migration (none for a contract migration).</summary>
    public static IReadOnlyList<GateViolation> Check(Migration migration)
    {
        var violations = new List<GateViolation>();
        if (migration.Phase != MigrationPhase.Expand)
        {
            return violations;
        }

        var created = new HashSet<string>(StringComparer.Ordinal);
        foreach (var statement in migration.Script.Statements)
        {
            foreach (var (rule, what, why) in Inspect(statement, created))
            {
                violations.Add(new GateViolation(migration, statement, rule, what, why));
            }
        }

        return violations;
    }

    /// <summary>Throws when any expand migration breaks a rule.</summary>
    /// <exception cref="ExpandMigrationRefusedException">Names every refused statement, its rule and the way out.</exception>
    public static void Enforce(MigrationSet migrations)
    {
        var violations = Check(migrations);
        if (violations.Count > 0)
        {
            throw new ExpandMigrationRefusedException(violations);
        }
    }

    private static IEnumerable<(string Rule, string What, string Why)> Inspect(SqlStatement statement, HashSet<string> created)
    {
        var t = statement.Tokens;
        if (statement.StartsWith("create"))
        {
            if (CreatedTable(t) is { } table)
            {
                created.Add(table);
            }

            yield break;
        }

        if (statement.StartsWith("drop"))
        {
            if (Dropped(t) is { } drop && !(drop.Kind == "table" && drop.Names.All(created.Contains)))
            {
                yield return (ExpandRules.Drop, $"drops {drop.Kind} {string.Join(", ", drop.Names)}", "the live release may still use it");
            }

            yield break;
        }

        if (statement.StartsWith("truncate"))
        {
            var names = NamesAfter(t, SkipWords(t, 1, "table", "only"));
            if (!names.All(created.Contains))
            {
                yield return (ExpandRules.Truncate, $"deletes every row of {string.Join(", ", names)}", "the live release still reads them");
            }

            yield break;
        }

        if (statement.StartsWith("alter"))
        {
            foreach (var violation in InspectAlter(t, created))
            {
                yield return violation;
            }
        }
    }

    private static IEnumerable<(string Rule, string What, string Why)> InspectAlter(IReadOnlyList<SqlToken> t, HashSet<string> created)
    {
        var (kind, at) = ObjectKind(t, 1);
        if (kind is null)
        {
            yield break;
        }

        if (kind != "table")
        {
            // ALTER VIEW / SEQUENCE / SCHEMA / TYPE / FUNCTION … RENAME … or SET SCHEMA: the old release still uses the old name.
            if (RenamedKinds.Contains(kind) && IndexOfWord(t, at, "rename") is var rename and >= 0)
            {
                var name = QualifiedName(t, SkipWords(t, at, "if", "exists"), out _);
                yield return (ExpandRules.Rename, $"renames {kind} {name}{RenameDetail(t, rename + 1)}", "the live release still uses the old name");
            }
            else if (RenamedKinds.Contains(kind) && Enumerable.Range(at, Math.Max(0, t.Count - at)).Any(k => HasWords(t, k, "set", "schema")))
            {
                var name = QualifiedName(t, SkipWords(t, at, "if", "exists"), out _);
                yield return (ExpandRules.Rename, $"moves {kind} {name} to another schema", "the live release still uses the old name");
            }

            yield break;
        }

        // ALTER TABLE [IF EXISTS] [ONLY] name [*] action [, action …]
        var i = SkipWords(t, at, "if", "exists");
        i = SkipWords(t, i, "only");
        var table = QualifiedName(t, i, out i);
        if (i < t.Count && t[i].IsSymbol("*"))
        {
            i++;
        }

        if (created.Contains(table))
        {
            yield break;
        }

        foreach (var action in SplitTopLevel(t, i))
        {
            if (InspectTableAction(table, action) is { } violation)
            {
                yield return violation;
            }
        }
    }

    private static (string Rule, string What, string Why)? InspectTableAction(string table, IReadOnlyList<SqlToken> a)
    {
        if (a.Count == 0)
        {
            return null;
        }

        if (a[0].Is("rename"))
        {
            if (a.Count > 1 && a[1].Is("constraint"))
            {
                return null;
            }

            return a.Count > 1 && a[1].Is("to")
                ? (ExpandRules.Rename, $"renames table {table}{RenameDetail(a, 1)}", "the live release still uses the old name")
                : (ExpandRules.Rename, $"renames column {table}.{Name(a, a[1].Is("column") ? 2 : 1)}{RenameDetail(a, IndexOfWord(a, 1, "to"))}", "the live release still reads and writes the old name");
        }

        if (a[0].Is("set") && a.Count > 1 && a[1].Is("schema"))
        {
            return (ExpandRules.Rename, $"moves table {table} to another schema", "the live release still uses the old name");
        }

        if (a[0].Is("drop"))
        {
            if (a.Count > 1 && a[1].Is("constraint"))
            {
                return null;
            }

            var at = SkipWords(a, 1, "column");
            at = SkipWords(a, at, "if", "exists");
            return (ExpandRules.Drop, $"drops column {table}.{Name(a, at)}", "the live release may still read or write it");
        }

        if (a[0].Is("alter"))
        {
            if (a.Count > 1 && a[1].Is("constraint"))
            {
                return null;
            }

            var at = SkipWords(a, 1, "column");
            var column = Name(a, at);
            var rest = at + 1;
            if (HasWords(a, rest, "type") || HasWords(a, rest, "set", "data", "type"))
            {
                return (ExpandRules.ColumnType, $"changes the type of column {table}.{column}", "the live release still reads and writes the old type");
            }

            if (HasWords(a, rest, "set", "not", "null"))
            {
                return (ExpandRules.SetNotNull, $"sets NOT NULL on existing column {table}.{column}", "the live release may still write NULL into it");
            }

            return null;
        }

        if (a[0].Is("add"))
        {
            var at = 1;
            if (at < a.Count && ConstraintStarts.Any(a[at].Is))
            {
                return null;
            }

            at = SkipWords(a, at, "column");
            at = SkipWords(a, at, "if", "not", "exists");
            var column = Name(a, at);
            var definition = a.Skip(at + 1).ToList();
            var isSerial = definition.Count > 0 && SerialTypes.Any(definition[0].Is);
            // ON DELETE SET DEFAULT is a foreign key's action, not a default.
            var hasDefault = isSerial || definition.Where((x, k) => (x.Is("default") && (k == 0 || !definition[k - 1].Is("set"))) || x.Is("generated")).Any();
            var notNull = Enumerable.Range(0, Math.Max(0, definition.Count - 1)).Any(k => definition[k].Is("not") && definition[k + 1].Is("null"))
                || Enumerable.Range(0, Math.Max(0, definition.Count - 1)).Any(k => definition[k].Is("primary") && definition[k + 1].Is("key"));
            if (notNull && !hasDefault)
            {
                return (ExpandRules.NotNullWithoutDefault, $"adds column {table}.{column} NOT NULL without a default", "the live release's inserts do not set it and would fail; give it a DEFAULT, or add it nullable now and set NOT NULL in a contract migration");
            }
        }

        return null;
    }

    private static readonly HashSet<string> RenamedKinds =
        ["view", "materialized view", "foreign table", "sequence", "schema", "type", "domain", "function", "procedure"];

    private static readonly HashSet<string> DroppedKinds =
        ["table", "view", "materialized view", "foreign table", "sequence", "schema", "type", "domain", "function", "procedure"];

    /// <summary>The object kind after <c>ALTER</c>/<c>DROP</c> at <paramref name="i"/> (two words for MATERIALIZED VIEW, FOREIGN TABLE) and the index after it.</summary>
    private static (string? Kind, int Next) ObjectKind(IReadOnlyList<SqlToken> t, int i)
    {
        if (i >= t.Count || t[i].Kind != SqlTokenKind.Word)
        {
            return (null, i);
        }

        if (i + 1 < t.Count && (t[i].Is("materialized") || t[i].Is("foreign")) && t[i + 1].Kind == SqlTokenKind.Word)
        {
            return ($"{t[i].Value} {t[i + 1].Value}", i + 2);
        }

        return (t[i].Value, i + 1);
    }

    private static (string Kind, IReadOnlyList<string> Names)? Dropped(IReadOnlyList<SqlToken> t)
    {
        var (kind, at) = ObjectKind(t, 1);
        if (kind is null || !DroppedKinds.Contains(kind))
        {
            return null;
        }

        return (kind, NamesAfter(t, SkipWords(t, at, "if", "exists")));
    }

    private static string? CreatedTable(IReadOnlyList<SqlToken> t)
    {
        var i = 1;
        i = SkipWords(t, i, "or", "replace");
        while (i < t.Count && (t[i].Is("temp") || t[i].Is("temporary") || t[i].Is("unlogged") || t[i].Is("global") || t[i].Is("local")))
        {
            i++;
        }

        if (i >= t.Count || !t[i].Is("table"))
        {
            return null;
        }

        i = SkipWords(t, i + 1, "if", "not", "exists");
        return i < t.Count && t[i].IsName ? QualifiedName(t, i, out _) : null;
    }

    /// <summary>Comma-separated qualified names from <paramref name="i"/> (a DROP's or TRUNCATE's list), up to CASCADE/RESTRICT or the end.</summary>
    private static IReadOnlyList<string> NamesAfter(IReadOnlyList<SqlToken> t, int i)
    {
        var names = new List<string>();
        while (i < t.Count && t[i].IsName && !t[i].Is("cascade") && !t[i].Is("restrict"))
        {
            names.Add(QualifiedName(t, i, out i));
            // A routine's signature: drop function f(int, text)
            if (i < t.Count && t[i].IsSymbol("("))
            {
                var depth = 0;
                do
                {
                    depth += t[i].IsSymbol("(") ? 1 : t[i].IsSymbol(")") ? -1 : 0;
                    i++;
                }
                while (i < t.Count && depth > 0);
            }

            if (i < t.Count && t[i].IsSymbol(","))
            {
                i++;
            }
            else
            {
                break;
            }
        }

        return names;
    }

    /// <summary><c>a.b.c</c> from <paramref name="i"/>, as written (quoted parts keep their case); <paramref name="next"/> is the index after it.</summary>
    private static string QualifiedName(IReadOnlyList<SqlToken> t, int i, out int next)
    {
        var parts = new List<string>();
        while (i < t.Count && t[i].IsName)
        {
            parts.Add(t[i].Value);
            i++;
            if (i < t.Count && t[i].IsSymbol(".") && i + 1 < t.Count && t[i + 1].IsName)
            {
                i++;
            }
            else
            {
                break;
            }
        }

        next = i;
        return string.Join('.', parts);
    }

    private static string Name(IReadOnlyList<SqlToken> t, int i) =>
        i >= 0 && i < t.Count && t[i].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier or SqlTokenKind.String ? t[i].Value : "?";

    private static string RenameDetail(IReadOnlyList<SqlToken> t, int to) =>
        to >= 0 && to < t.Count && t[to].Is("to") ? $" to {Name(t, to + 1)}" : "";

    /// <summary>The index after the optional words <paramref name="words"/> when they all follow at <paramref name="i"/>; else <paramref name="i"/>.</summary>
    private static int SkipWords(IReadOnlyList<SqlToken> t, int i, params string[] words) =>
        HasWords(t, i, words) ? i + words.Length : i;

    private static bool HasWords(IReadOnlyList<SqlToken> t, int i, params string[] words) =>
        i >= 0 && i + words.Length <= t.Count && words.Select((w, k) => t[i + k].Is(w)).All(b => b);

    private static int IndexOfWord(IReadOnlyList<SqlToken> t, int from, string word)
    {
        for (var i = Math.Max(0, from); i < t.Count; i++)
        {
            if (t[i].Is(word))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The tokens from <paramref name="from"/> split on commas outside parentheses (ALTER TABLE's actions).</summary>
    private static IEnumerable<IReadOnlyList<SqlToken>> SplitTopLevel(IReadOnlyList<SqlToken> t, int from)
    {
        var depth = 0;
        var current = new List<SqlToken>();
        for (var i = from; i < t.Count; i++)
        {
            if (t[i].IsSymbol("(") || t[i].IsSymbol("["))
            {
                depth++;
            }
            else if (t[i].IsSymbol(")") || t[i].IsSymbol("]"))
            {
                depth--;
            }
            else if (depth == 0 && t[i].IsSymbol(","))
            {
                yield return current;
                current = [];
                continue;
            }

            current.Add(t[i]);
        }

        yield return current;
    }
}

/// <summary>The static gate refused one or more expand migrations; nothing was run.</summary>
public sealed class ExpandMigrationRefusedException : Exception
{
    /// <summary>Creates the exception from the refused statements.</summary>
    public ExpandMigrationRefusedException(IReadOnlyList<GateViolation> violations)
        : base($"Refused {violations.Count} statement(s) in expand migrations before anything ran (nothing was changed):\n"
               + string.Join('\n', violations.Select(v => "  " + v.Message)))
    {
        Violations = violations;
    }

    /// <summary>Every refused statement.</summary>
    public IReadOnlyList<GateViolation> Violations { get; }
}
