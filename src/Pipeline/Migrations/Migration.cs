using System.Security.Cryptography;
using System.Text;

namespace Pipeline.Migrations;

/// <summary>When a migration runs.</summary>
public enum MigrationPhase
{
    /// <summary>
    /// <c>NNN_name.expand.sql</c>: before the new colour starts, while the old release is live. It may only add
    /// (tables, nullable columns, columns with defaults, indexes); the static gate refuses anything else.
    /// </summary>
    Expand,

    /// <summary>
    /// <c>NNN_name.contract.sql</c>: after the old release is retired (or with <c>--target=Contract</c>). It may drop
    /// and rename; it is a point of no return.
    /// </summary>
    Contract,
}

/// <summary>The contract names of <see cref="MigrationPhase"/>.</summary>
public static class MigrationPhases
{
    /// <summary><c>expand</c> or <c>contract</c>: the file name's phase and the migrations table's <c>phase</c> column.</summary>
    public static string ToContractName(this MigrationPhase phase) => phase switch
    {
        MigrationPhase.Expand => "expand",
        MigrationPhase.Contract => "contract",
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, "Unknown migration phase."),
    };
}

/// <summary>One SQL file of a service's <c>migrations/</c> folder, read and split into statements.</summary>
/// <param name="FileName">The file's name (<c>002_add_author.expand.sql</c>).</param>
/// <param name="Path">The file's full path.</param>
/// <param name="Sql">Its text.</param>
/// <param name="Statements">Its statements.</param>
public sealed record MigrationScript(string FileName, string Path, string Sql, IReadOnlyList<SqlStatement> Statements)
{
    /// <summary>The SHA-256 of the file's bytes as UTF-8, lower-case hex: the migrations table keeps it to notice an applied file that changed.</summary>
    public string Checksum { get; init; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));
}

/// <summary>
/// One migration: <c>NNN_name.expand.sql</c> (with an optional <c>NNN_name.down.sql</c> that undoes it) or
/// <c>NNN_name.contract.sql</c>. Numbers order migrations and are unique in a folder.
/// </summary>
/// <param name="Number">Its number (<c>NNN</c>).</param>
/// <param name="Name">Its name (lower-case letters, digits and <c>_</c>).</param>
/// <param name="Phase">When it runs.</param>
/// <param name="Script">The migration itself.</param>
/// <param name="Down">The script that undoes an expand migration, or null.</param>
public sealed record Migration(int Number, string Name, MigrationPhase Phase, MigrationScript Script, MigrationScript? Down)
{
    /// <summary>How messages and the journal name it: <c>002_add_author (expand)</c>.</summary>
    public string Id => $"{Number:000}_{Name}";

    /// <inheritdoc />
    public override string ToString() => $"{Id} ({Phase.ToContractName()})";
}
