using System.Globalization;

namespace Pipeline.Migrations;

/// <summary>
/// A PostgreSQL connection URL (<c>postgres://user:password@host:5432/database?sslmode=require</c>), the value of
/// <c>DATABASE_URL</c>. It holds a secret: <see cref="ToString"/> and <see cref="Redacted"/> show the password as
/// <c>***</c>; only <see cref="ToLibpqEnvironment"/> and <see cref="Value"/> carry it, for the processes that connect.
/// </summary>
public sealed class DatabaseUrl
{
    private static readonly Dictionary<string, string> Parameters = new(StringComparer.Ordinal)
    {
        ["sslmode"] = "PGSSLMODE",
        ["connect_timeout"] = "PGCONNECT_TIMEOUT",
        ["application_name"] = "PGAPPNAME",
        ["options"] = "PGOPTIONS",
        ["target_session_attrs"] = "PGTARGETSESSIONATTRS",
    };

    private readonly IReadOnlyDictionary<string, string> _query;

    private DatabaseUrl(string value, string host, int port, string user, string password, string database, IReadOnlyDictionary<string, string> query)
    {
        Value = value;
        Host = host;
        Port = port;
        User = user;
        Password = password;
        Database = database;
        _query = query;
    }

    /// <summary>The URL as given, password included. A secret: never log it.</summary>
    public string Value { get; }

    /// <summary>The server's host name or address.</summary>
    public string Host { get; }

    /// <summary>The server's port.</summary>
    public int Port { get; }

    /// <summary>The role to connect as.</summary>
    public string User { get; }

    /// <summary>The role's password. A secret: never log it.</summary>
    public string Password { get; }

    /// <summary>The database name.</summary>
    public string Database { get; }

    /// <summary>The URL with the password replaced by <c>***</c>.</summary>
    public string Redacted =>
        $"postgres://{Uri.EscapeDataString(User)}{(Password.Length > 0 ? ":***" : "")}@{Host}:{Port.ToString(CultureInfo.InvariantCulture)}/{Uri.EscapeDataString(Database)}"
        + (_query.Count > 0 ? "?" + string.Join('&', _query.Select(p => $"{p.Key}={Uri.EscapeDataString(p.Value)}")) : "");

    /// <summary>Builds a URL from its parts.</summary>
    public static DatabaseUrl Create(string host, int port, string user, string password, string database) =>
        Parse($"postgres://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@{host}:{port.ToString(CultureInfo.InvariantCulture)}/{Uri.EscapeDataString(database)}");

    /// <summary>Parses <c>postgres://</c> or <c>postgresql://</c> URLs with a user, a host and a database.</summary>
    /// <exception cref="FormatException">Not such a URL; the message never repeats the password.</exception>
    public static DatabaseUrl Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql"))
        {
            throw new FormatException("not a postgres://user:password@host:port/database URL");
        }

        var userInfo = uri.UserInfo;
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        var password = colon < 0 ? "" : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (user.Length == 0 || uri.Host.Length == 0 || database.Length == 0 || database.Contains('/'))
        {
            throw new FormatException("a database URL needs a user, a host and a database: postgres://user:password@host:5432/database");
        }

        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
            if (!Parameters.ContainsKey(key))
            {
                throw new FormatException($"the parameter '{key}' is not supported; use {string.Join(", ", Parameters.Keys)}");
            }

            query[key] = Uri.UnescapeDataString(equals < 0 ? "" : pair[(equals + 1)..]);
        }

        return new DatabaseUrl(value, uri.IdnHost, uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port, user, password, database, query);
    }

    /// <summary>The libpq environment (<c>PGHOST</c>, <c>PGPORT</c>, <c>PGUSER</c>, <c>PGPASSWORD</c>, <c>PGDATABASE</c>, …) that connects psql without the URL on its command line.</summary>
    public IReadOnlyDictionary<string, string> ToLibpqEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PGHOST"] = Host,
            ["PGPORT"] = Port.ToString(CultureInfo.InvariantCulture),
            ["PGUSER"] = User,
            ["PGDATABASE"] = Database,
        };
        if (Password.Length > 0)
        {
            environment["PGPASSWORD"] = Password;
        }

        foreach (var (key, value) in _query)
        {
            environment[Parameters[key]] = value;
        }

        return environment;
    }

    /// <summary>Replaces the password wherever it appears in <paramref name="text"/> (output of a process that had it).</summary>
    public string Redact(string text) => Password.Length == 0 ? text : text.Replace(Password, "***", StringComparison.Ordinal);

    /// <inheritdoc />
    public override string ToString() => Redacted;
}
