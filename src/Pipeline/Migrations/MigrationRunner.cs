using System.Globalization;
using System.Text;
using Pipeline.Docker;

namespace Pipeline.Migrations;

/// <summary>How <see cref="MigrationRunner"/> reaches the database.</summary>
public sealed record MigrationRunnerOptions
{
    /// <summary>The database (<c>DATABASE_URL</c>). Its password reaches only the runner container's environment.</summary>
    public required DatabaseUrl Database { get; init; }

    /// <summary>The Docker network the database is on: the runner container joins it, so the pipeline's machine never needs a route to the database.</summary>
    public required string Network { get; init; }

    /// <summary>An image with <c>psql</c> (PostgreSQL's client).</summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/postgres:bookworm-2</c> (pulled when the engine lacks it).</value>
    public string Image { get; init; } = "127.0.0.1:5000/pipeline/postgres:bookworm-2";

    /// <summary>Labels for the runner container; <c>pipeline.role=migration</c> is always set.</summary>
    /// <value>The default value is none.</value>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The runner container's name, or null for <c>pipeline-migrations-{8 hex}</c>.</summary>
    /// <value>The default value is null.</value>
    public string? ContainerName { get; init; }

    /// <summary>How long one migration may run; then its container is removed and the server rolls its transaction back.</summary>
    /// <value>The default value is 10 minutes.</value>
    public TimeSpan MigrationTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a migration's statement waits for a lock (PostgreSQL's <c>lock_timeout</c>) before the migration fails:
    /// an <c>ALTER TABLE</c> queued behind a long transaction would otherwise stall every query of the live release.
    /// </summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long connecting may take (libpq's <c>connect_timeout</c>) before the database counts as unreachable.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>What <see cref="MigrationRunner.ApplyPendingAsync"/> did.</summary>
/// <param name="Plan">What was pending and what was applied already.</param>
/// <param name="Applied">The migrations this call applied, in order.</param>
public sealed record MigrationRunReport(MigrationPlan Plan, IReadOnlyList<Migration> Applied);

/// <summary>
/// Applies migrations with psql from a short-lived container on the database's network (on the production engine),
/// so the pipeline's machine never connects to the database itself. Each migration runs in one transaction
/// (<c>psql --single-transaction -v ON_ERROR_STOP=1</c>) together with its row in <c>pipeline_migrations</c>: it is
/// applied and recorded, or neither. The database password travels only in the container's environment
/// (<c>PGPASSWORD</c>); messages and output show it as <c>***</c>.
/// </summary>
/// <param name="engine">The engine the database's network is on (the production engine).</param>
/// <param name="options">Where the database is.</param>
/// <param name="log">Receives each line psql prints (password redacted).</param>
/// <param name="time">Clock for the timeouts; the system clock when null.</param>
public sealed class MigrationRunner(IDockerEngine engine, MigrationRunnerOptions options, Action<string>? log = null, TimeProvider? time = null)
{
    /// <summary>The table that records applied migrations.</summary>
    public const string TableName = "pipeline_migrations";

    private readonly IDockerEngine _engine = engine ?? throw new ArgumentNullException(nameof(engine));
    private readonly MigrationRunnerOptions _options = options ?? throw new ArgumentNullException(nameof(options));
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Starts the runner container and checks the database answers.</summary>
    /// <exception cref="DatabaseUnreachableException">psql cannot connect (the container is removed again).</exception>
    /// <exception cref="DockerEngineException">The engine cannot start the container (e.g. the network does not exist).</exception>
    public async Task<MigrationSession> OpenAsync(CancellationToken ct = default)
    {
        var image = ImageRef.Parse(_options.Image);
        if (!await _engine.ImageExistsAsync(image.ToString(), ct).ConfigureAwait(false))
        {
            await _engine.PullImageAsync(image, ct: ct).ConfigureAwait(false);
        }

        var name = _options.ContainerName ?? $"pipeline-migrations-{Guid.NewGuid().ToString("N")[..8]}";
        var environment = new Dictionary<string, string>(_options.Database.ToLibpqEnvironment())
        {
            // The server names our sessions after the container, so a migration that runs out of time can be stopped there.
            ["PGAPPNAME"] = name,
        };
        environment.TryAdd("PGCONNECT_TIMEOUT", Math.Max(1, (int)Math.Ceiling(_options.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
        var labels = new Dictionary<string, string>(_options.Labels) { [Labels.Role] = Roles.Migration };

        // The container only waits; every psql runs in it by exec. It ends by itself if the pipeline dies and no rollback removes it.
        var lifetime = (int)Math.Ceiling((_options.MigrationTimeout + TimeSpan.FromMinutes(5)).TotalSeconds);
        var id = await _engine.CreateContainerAsync(
            new ContainerSpec
            {
                Name = name,
                Image = image.ToString(),
                Command = ["sleep", lifetime.ToString(CultureInfo.InvariantCulture)],
                Environment = environment,
                Labels = labels,
                Network = _options.Network,
            },
            ct).ConfigureAwait(false);
        var session = new MigrationSession(_engine, _options, id, name, log, _time);
        try
        {
            await _engine.StartContainerAsync(id, ct).ConfigureAwait(false);
            await session.PrepareAsync(ct).ConfigureAwait(false);
            await session.CheckConnectionAsync(ct).ConfigureAwait(false);
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Applies the pending migrations of <paramref name="phase"/> in order, one transaction each.
    /// <paramref name="beforeEach"/> runs before each one (to journal it); the first failure stops the run.
    /// </summary>
    /// <exception cref="MigrationHistoryException">The folder and the table disagree; nothing ran.</exception>
    /// <exception cref="MigrationFailedException">A migration failed; its transaction was rolled back (earlier ones stay applied).</exception>
    /// <exception cref="DatabaseUnreachableException">psql cannot connect; nothing ran.</exception>
    public async Task<MigrationRunReport> ApplyPendingAsync(
        MigrationSet migrations,
        MigrationPhase phase,
        string? deployId,
        Func<Migration, CancellationToken, Task>? beforeEach = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(migrations);
        await using var session = await OpenAsync(ct).ConfigureAwait(false);
        var plan = MigrationPlan.Create(migrations, phase, await session.ListAppliedAsync(ct).ConfigureAwait(false));
        var applied = new List<Migration>();
        foreach (var migration in plan.Pending)
        {
            if (beforeEach is not null)
            {
                await beforeEach(migration, ct).ConfigureAwait(false);
            }

            await session.ApplyAsync(migration, deployId, ct).ConfigureAwait(false);
            applied.Add(migration);
        }

        return new MigrationRunReport(plan, applied);
    }

    /// <summary>The rows of <c>pipeline_migrations</c> (empty when the table does not exist yet).</summary>
    public async Task<IReadOnlyList<AppliedMigration>> ListAppliedAsync(CancellationToken ct = default)
    {
        await using var session = await OpenAsync(ct).ConfigureAwait(false);
        return await session.ListAppliedAsync(ct).ConfigureAwait(false);
    }
}

/// <summary>A started runner container: psql on the database's network. Disposing removes the container.</summary>
public sealed class MigrationSession : IAsyncDisposable
{
    private const string Folder = "/pipeline";
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(30);
    private readonly IDockerEngine _engine;
    private readonly MigrationRunnerOptions _options;
    private readonly Action<string>? _log;
    private readonly TimeProvider _time;
    private int _disposed;

    internal MigrationSession(IDockerEngine engine, MigrationRunnerOptions options, string id, string name, Action<string>? log, TimeProvider time)
    {
        _engine = engine;
        _options = options;
        ContainerId = id;
        ContainerName = name;
        _log = log;
        _time = time;
    }

    /// <summary>The runner container's id.</summary>
    public string ContainerId { get; }

    /// <summary>The runner container's name.</summary>
    public string ContainerName { get; }

    private DatabaseUrl Database => _options.Database;

    /// <summary>Creates the folders the scripts are uploaded to (an upload into a missing folder can fail with a broken pipe).</summary>
    internal async Task PrepareAsync(CancellationToken ct)
    {
        var result = await _engine.ExecAsync(ContainerId, ["mkdir", "-p", $"{Folder}/{MigrationSet.FolderName}"], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new DockerEngineException($"Could not create {Folder}/{MigrationSet.FolderName} in the migration runner {ContainerName}: {result.Stderr.Trim()}");
        }
    }

    internal async Task CheckConnectionAsync(CancellationToken ct)
    {
        var result = await PsqlAsync(["-tA", "-c", "SELECT 1"], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw Unreachable(result);
        }
    }

    /// <summary>The rows of <c>pipeline_migrations</c>, by number (empty when the table does not exist yet).</summary>
    /// <exception cref="DatabaseUnreachableException">psql cannot connect.</exception>
    public async Task<IReadOnlyList<AppliedMigration>> ListAppliedAsync(CancellationToken ct = default)
    {
        var script = $$"""
            SELECT to_regclass('{{MigrationRunner.TableName}}') IS NOT NULL AS has_table \gset
            \if :has_table
            SELECT number, name, phase, checksum, coalesce(deploy_id, ''), to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
              FROM {{MigrationRunner.TableName}} ORDER BY number;
            \endif

            """;
        await _engine.PutFileAsync(ContainerId, $"{Folder}/list.sql", Encoding.UTF8.GetBytes(script), ct).ConfigureAwait(false);
        var result = await PsqlAsync(["-tA", "-F", "\t", "-f", $"{Folder}/list.sql"], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw IsConnectionFailure(result) ? Unreachable(result) : new DatabaseUnreachableException(
                $"Reading {MigrationRunner.TableName} from {Database.Redacted} failed (psql exited with {result.ExitCode}): {Output(result)}");
        }

        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .Select(f => new AppliedMigration(
                int.Parse(f[0], CultureInfo.InvariantCulture),
                f[1],
                f[2],
                f[3],
                f[4].Length == 0 ? null : f[4],
                DateTimeOffset.Parse(f[5], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)))
            .ToList();
    }

    /// <summary>Applies one migration and records it in <c>pipeline_migrations</c>, in one transaction.</summary>
    /// <exception cref="MigrationFailedException">psql stopped at an error (the transaction was rolled back), another run recorded the migration first, or the migration ran out of time.</exception>
    /// <exception cref="DatabaseUnreachableException">psql cannot connect; nothing ran.</exception>
    public async Task ApplyAsync(Migration migration, string? deployId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(migration);
        var prologue = $$"""
            -- Written by Pipeline's migration runner: one transaction with {{migration.Script.FileName}}.
            DO $pipeline$ BEGIN PERFORM pg_advisory_xact_lock(hashtext('{{MigrationRunner.TableName}}')); END $pipeline$;
            SET LOCAL client_min_messages = warning;
            CREATE TABLE IF NOT EXISTS {{MigrationRunner.TableName}} (
                number integer PRIMARY KEY,
                name text NOT NULL,
                phase text NOT NULL CHECK (phase IN ('expand', 'contract')),
                checksum text NOT NULL,
                deploy_id text,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            RESET client_min_messages;
            INSERT INTO {{MigrationRunner.TableName}} (number, name, phase, checksum, deploy_id)
                VALUES ({{migration.Number.ToString(CultureInfo.InvariantCulture)}}, {{Literal(migration.Name)}}, {{Literal(migration.Phase.ToContractName())}}, {{Literal(migration.Script.Checksum)}}, {{(deployId is null ? "NULL" : Literal(deployId))}});
            SET LOCAL lock_timeout = '{{(long)_options.LockTimeout.TotalMilliseconds}}ms';

            """;
        _log?.Invoke($"Applying {MigrationSet.FolderName}/{migration.Script.FileName} to {Database.Redacted} (one transaction with its row in {MigrationRunner.TableName})…");
        await RunInOneTransactionAsync(migration, migration.Script, prologue, "applying", ct).ConfigureAwait(false);
        _log?.Invoke($"Applied {migration}.");
    }

    /// <summary>
    /// Runs an expand migration's down script and deletes its row, in one transaction. Not applied (or, with
    /// <paramref name="appliedBy"/>, applied by another deploy or from another file): nothing to do (returns false),
    /// so an undo step can run again after a crash.
    /// </summary>
    /// <exception cref="ArgumentException">The migration has no down script.</exception>
    /// <exception cref="MigrationFailedException">The down script failed; its transaction was rolled back.</exception>
    public async Task<bool> RevertAsync(Migration migration, string? appliedBy = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(migration);
        var down = migration.Down ?? throw new ArgumentException($"{migration} has no down script ({migration.Id}.down.sql).", nameof(migration));
        var row = (await ListAppliedAsync(ct).ConfigureAwait(false)).FirstOrDefault(a => a.Number == migration.Number);
        if (row is null)
        {
            _log?.Invoke($"{migration} is not applied; its down script does not run.");
            return false;
        }

        if (appliedBy is not null && (row.DeployId != appliedBy || row.Checksum != migration.Script.Checksum))
        {
            _log?.Invoke($"{migration} was applied by deploy {row.DeployId ?? "(unknown)"} from a file with checksum {row.Checksum[..12]}…, not by deploy {appliedBy} from this one; left as it is.");
            return false;
        }

        var prologue = $$"""
            -- Written by Pipeline's migration runner: one transaction with {{down.FileName}}.
            DO $pipeline$ BEGIN
                PERFORM pg_advisory_xact_lock(hashtext('{{MigrationRunner.TableName}}'));
                DELETE FROM {{MigrationRunner.TableName}} WHERE number = {{migration.Number.ToString(CultureInfo.InvariantCulture)}};
                IF NOT FOUND THEN RAISE EXCEPTION 'pipeline: {{migration.Id}} is no longer applied'; END IF;
            END $pipeline$;
            SET LOCAL lock_timeout = '{{(long)_options.LockTimeout.TotalMilliseconds}}ms';

            """;
        _log?.Invoke($"Reverting {migration} with {MigrationSet.FolderName}/{down.FileName} (one transaction with deleting its row)…");
        await RunInOneTransactionAsync(migration, down, prologue, "reverting", ct).ConfigureAwait(false);
        _log?.Invoke($"Reverted {migration}.");
        return true;
    }

    /// <summary>Removes the runner container (with its own timeout, even after cancellation).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        using var cleanup = new CancellationTokenSource(CleanupTimeout, _time);
        await _engine.RemoveContainerAsync(ContainerId, cleanup.Token).ConfigureAwait(false);
    }

    private async Task RunInOneTransactionAsync(Migration migration, MigrationScript script, string prologue, string doing, CancellationToken ct)
    {
        var prologuePath = $"{Folder}/prologue-{migration.Number}.sql";
        var scriptPath = $"{Folder}/{MigrationSet.FolderName}/{script.FileName}";
        await _engine.PutFileAsync(ContainerId, prologuePath, Encoding.UTF8.GetBytes(prologue), ct).ConfigureAwait(false);
        await _engine.PutFileAsync(ContainerId, scriptPath, Encoding.UTF8.GetBytes(script.Sql), ct).ConfigureAwait(false);

        using var timeout = new CancellationTokenSource(_options.MigrationTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        ExecResult result;
        try
        {
            result = await PsqlAsync(["-q", "--single-transaction", "-f", prologuePath, "-f", scriptPath], linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Cancelling the exec does not stop psql, and a server busy in a statement does not notice its client is
            // gone: end the server session (its transaction rolls back), then remove the container.
            await StopServerSessionsAsync().ConfigureAwait(false);
            await DisposeAsync().ConfigureAwait(false);
            if (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new MigrationFailedException(migration, script, null,
                    $"{doing} {MigrationSet.FolderName}/{script.FileName} did not finish within {_options.MigrationTimeout.TotalSeconds:0.#} s; ended its server session and removed its container {ContainerName}, so its transaction was rolled back and {MigrationRunner.TableName} is unchanged");
            }

            throw;
        }

        foreach (var line in Database.Redact(result.Stdout + result.Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            _log?.Invoke("  psql: " + line);
        }

        if (result.ExitCode == 0)
        {
            return;
        }

        if (IsConnectionFailure(result))
        {
            throw Unreachable(result);
        }

        var output = Output(result);
        var reason = output.Contains($"\"{MigrationRunner.TableName}_pkey\"", StringComparison.Ordinal)
            ? $"another run recorded {migration.Id} in {MigrationRunner.TableName} first"
            : output;
        throw new MigrationFailedException(migration, script, result.ExitCode,
            $"{doing} {MigrationSet.FolderName}/{script.FileName} failed (psql exited with {result.ExitCode}): {reason}; its transaction was rolled back, so the schema and {MigrationRunner.TableName} are as they were before it");
    }

    /// <summary>Ends the server sessions named <paramref name="applicationName"/> (a runner container's name); returns how many.</summary>
    /// <exception cref="DatabaseUnreachableException">psql cannot connect.</exception>
    public async Task<int> TerminateSessionsAsync(string applicationName, CancellationToken ct = default)
    {
        var result = await PsqlAsync(["-tA", "-c", $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = {Literal(applicationName)} AND pid <> pg_backend_pid()"], ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw Unreachable(result);
        }

        return int.Parse(result.Stdout.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Terminates this container's other server sessions (best effort, with its own timeout).</summary>
    private async Task StopServerSessionsAsync()
    {
        using var cleanup = new CancellationTokenSource(CleanupTimeout, _time);
        try
        {
            await PsqlAsync(["-tA", "-c", $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = {Literal(ContainerName)} AND pid <> pg_backend_pid()"], cleanup.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerEngineException or OperationCanceledException)
        {
            _log?.Invoke($"Could not end the server session of {ContainerName} ({e.Message}); removing the container ends it when its statement finishes.");
        }
    }

    private Task<ExecResult> PsqlAsync(IReadOnlyList<string> arguments, CancellationToken ct) =>
        _engine.ExecAsync(ContainerId, ["psql", "-X", "-v", "ON_ERROR_STOP=1", .. arguments], ct);

    /// <summary>psql exits with 2 when the connection fails (or is lost); its messages then say so.</summary>
    private static bool IsConnectionFailure(ExecResult result) =>
        result.ExitCode == 2 && (result.Stderr.Contains("connection to server", StringComparison.Ordinal)
                                 || result.Stderr.Contains("could not translate host name", StringComparison.Ordinal)
                                 || result.Stderr.Contains("could not connect", StringComparison.Ordinal)
                                 || result.Stderr.Contains("server closed the connection", StringComparison.Ordinal));

    private DatabaseUnreachableException Unreachable(ExecResult result) => new(
        $"Cannot reach the database {Database.Redacted} from a container on network {_options.Network} ({ContainerName}): {Output(result)}. Nothing was run. Check that the database runs on that network and the DATABASE_URL's host, port, user and password.");

    private string Output(ExecResult result)
    {
        var text = Database.Redact((result.Stderr.Trim().Length > 0 ? result.Stderr : result.Stdout).Trim());
        return string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(8));
    }

    private static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}

/// <summary>A migration failed; its transaction was rolled back, so the schema and <c>pipeline_migrations</c> are as before it.</summary>
public sealed class MigrationFailedException : Exception
{
    internal MigrationFailedException(Migration migration, MigrationScript script, long? exitCode, string message)
        : base(char.ToUpperInvariant(message[0]) + message[1..] + ".")
    {
        Migration = migration;
        Script = script;
        ExitCode = exitCode;
    }

    /// <summary>The migration.</summary>
    public Migration Migration { get; }

    /// <summary>The script that failed (the migration, or its down script).</summary>
    public MigrationScript Script { get; }

    /// <summary>psql's exit code, or null when it ran out of time.</summary>
    public long? ExitCode { get; }
}

/// <summary>psql could not connect to the database from the runner container; nothing was run.</summary>
/// <param name="message">What failed, with psql's reason (password redacted).</param>
public sealed class DatabaseUnreachableException(string message) : Exception(message);
