using System.Globalization;
using Pipeline.Docker;
using Pipeline.Migrations;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Migrations;

/// <summary>
/// A real PostgreSQL server (the database image, provisioned by <see cref="DatabaseServer"/>) on its own network,
/// container, volume and credentials file; each test gets its own database in it. Disposing removes all of it.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _id = Guid.NewGuid().ToString("N")[..8];
    private readonly string _folder;

    private PostgresServer(IDockerEngine engine, string? network)
    {
        Engine = engine;
        _folder = Path.Combine(Path.GetTempPath(), $"pipeline-pg-{_id}");
        Options = new DatabaseServerOptions
        {
            ContainerName = $"pipeline-pg-test-{_id}",
            Network = network ?? $"pipeline-pg-test-{_id}",
            Image = Image,
            CredentialsFile = Path.Combine(_folder, "credentials", "database.url"),
            StartTimeout = TimeSpan.FromSeconds(120),
        };
    }

    public static string Image => $"{TestEnvironment.ImageRegistry}/pipeline/postgres:bookworm-2";

    public IDockerEngine Engine { get; }

    public DatabaseServerOptions Options { get; }

    public DatabaseServerReport Report { get; private set; } = null!;

    public List<string> Log { get; } = [];

    public string Network => Options.Network;

    /// <summary>
    /// Makes sure the database image exists (built once, ~2 min, when missing), then starts a server on
    /// <paramref name="network"/> (its own network when null; a network given is left in place on dispose).
    /// </summary>
    public static async Task<PostgresServer> StartAsync(string? network = null)
    {
        var engine = new DockerEngine(TestEnvironment.Docker);
        await new BaseImages(engine, new ProcessCommandRunner(), TestContext.Progress.WriteLine)
            .EnsureDatabaseAsync(new BaseImagesOptions { DatabaseImage = Image });
        var server = new PostgresServer(engine, network);
        server.Report = await new DatabaseServer(engine, server.Log.Add).EnsureAsync(server.Options);
        return server;
    }

    /// <summary>A fresh database owned by the application role; its URL carries the role's password.</summary>
    public async Task<DatabaseUrl> CreateDatabaseAsync()
    {
        var name = $"test_{Guid.NewGuid().ToString("N")[..10]}";
        await SuperuserAsync("postgres", $"CREATE DATABASE {name} OWNER {Options.User}");
        var url = Report.Url;
        return DatabaseUrl.Create(url.Host, url.Port, url.User, url.Password, name);
    }

    /// <summary>Runs SQL as the superuser inside the server's container (peer authentication): what a test inspects.</summary>
    public async Task<string> SuperuserAsync(string database, string sql)
    {
        var result = await Engine.ExecAsync(Options.ContainerName, ["runuser", "-u", "postgres", "--", "psql", "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql]);
        return result.ExitCode == 0
            ? result.Stdout.Trim()
            : throw new InvalidOperationException($"psql as postgres on {database} exited with {result.ExitCode}: {result.Stderr}");
    }

    /// <summary>The columns of a table, in order; empty when the table does not exist.</summary>
    public async Task<IReadOnlyList<string>> ColumnsAsync(DatabaseUrl database, string table) =>
        (await SuperuserAsync(database.Database, $"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The rows of pipeline_migrations as "number name phase"; empty when the table does not exist.</summary>
    public async Task<IReadOnlyList<string>> MigrationRowsAsync(DatabaseUrl database) =>
        (await SuperuserAsync(database.Database, "SELECT CASE WHEN to_regclass('public.pipeline_migrations') IS NULL THEN '' ELSE (SELECT string_agg(number || ' ' || name || ' ' || phase, E'\\n' ORDER BY number) FROM pipeline_migrations) END"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public async Task<int> CountAsync(DatabaseUrl database, string sql) =>
        int.Parse(await SuperuserAsync(database.Database, sql), CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await Engine.RemoveContainerAsync(Options.ContainerName);
        foreach (var container in await Engine.ListContainersAsync(new Dictionary<string, string> { [DatabaseServer.DatabaseLabel] = Options.ContainerName }))
        {
            await Engine.RemoveContainerAsync(container.Id);
        }

        await Engine.RemoveVolumeAsync(Options.Volume);
        if (Options.Network.StartsWith("pipeline-pg-test-", StringComparison.Ordinal))
        {
            await Engine.RemoveNetworkAsync(Options.Network);
        }

        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }

        Engine.Dispose();
    }
}
