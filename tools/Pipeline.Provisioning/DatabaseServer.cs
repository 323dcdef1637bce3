using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Pipeline.Docker;
using Pipeline.Migrations;

namespace Pipeline.Provisioning;

/// <summary>Which database server <see cref="DatabaseServer"/> makes sure of.</summary>
public sealed partial record DatabaseServerOptions
{
    /// <summary>The database container's name: the host name releases and the migration runner use on <see cref="Network"/>.</summary>
    /// <value>The default value is <c>pipeline-postgres</c>.</value>
    public string ContainerName { get; init; } = "pipeline-postgres";

    /// <summary>The Docker network the database joins (the releases' network).</summary>
    /// <value>The default value is <c>pipeline</c>.</value>
    public string Network { get; init; } = "pipeline";

    /// <summary>The named volume that holds the data; no deploy, rollback or retire touches it.</summary>
    /// <value>The default value is null: <c>{ContainerName}-data</c>.</value>
    public string? VolumeName { get; init; }

    /// <summary>The image the server runs (PostgreSQL from Debian, see <see cref="BaseImagesOptions.DatabaseImage"/>).</summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/postgres:bookworm-2</c>.</value>
    public string Image { get; init; } = "127.0.0.1:5000/pipeline/postgres:bookworm-2";

    /// <summary>The application's database (owned by <see cref="User"/>).</summary>
    /// <value>The default value is <c>app</c>.</value>
    public string Database { get; init; } = "app";

    /// <summary>The application's role (a login role, not a superuser).</summary>
    /// <value>The default value is <c>app</c>.</value>
    public string User { get; init; } = "app";

    /// <summary>
    /// Where the generated <c>DATABASE_URL</c> is kept (mode 0600, in a 0700 folder): written once, before the database
    /// is created, and read on every later run. Export it to deploy a service that uses the database.
    /// </summary>
    /// <value>The default value is <c>/var/lib/pipeline-local/postgres/{ContainerName}.url</c>.</value>
    public string? CredentialsFile { get; init; }

    /// <summary>How long the server may take to accept connections.</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The data volume's name.</summary>
    public string Volume => VolumeName ?? $"{ContainerName}-data";

    /// <summary>The credentials file's path.</summary>
    public string Credentials => CredentialsFile ?? $"/var/lib/pipeline-local/postgres/{ContainerName}.url";

    /// <summary>Checks the values once; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public DatabaseServerOptions Validate()
    {
        foreach (var (name, value) in new[] { (nameof(ContainerName), ContainerName), (nameof(Network), Network), (nameof(VolumeName), Volume) })
        {
            if (!DockerName().IsMatch(value))
            {
                throw new ArgumentException($"{name} '{value}' is not a Docker name: letters, digits and _ . -, starting with a letter or digit.");
            }
        }

        foreach (var (name, value) in new[] { (nameof(Database), Database), (nameof(User), User) })
        {
            if (!SqlName().IsMatch(value))
            {
                throw new ArgumentException($"{name} '{value}' must be 1-63 lower-case letters, digits and _, starting with a letter.");
            }
        }

        if (!ImageRef.TryParse(Image, out _, out var reason))
        {
            throw new ArgumentException($"{nameof(Image)} '{Image}' is not an image reference: {reason}.");
        }

        if (!Path.IsPathFullyQualified(Credentials))
        {
            throw new ArgumentException($"{nameof(CredentialsFile)} '{Credentials}' must be an absolute path.");
        }

        if (StartTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(StartTimeout)} must be positive.");
        }

        return this;
    }

    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\z")]
    private static partial Regex DockerName();

    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,62}\z")]
    private static partial Regex SqlName();
}

/// <summary>What <see cref="DatabaseServer.EnsureAsync"/> found or did.</summary>
public enum DatabaseServerAction
{
    /// <summary>The server was running: nothing was done.</summary>
    Existed,

    /// <summary>The container existed but was stopped: it was started (its data volume kept).</summary>
    Started,

    /// <summary>The container was created (on the existing data volume, or on a new one: then the database was created).</summary>
    Created,
}

/// <summary>The database server, ready.</summary>
/// <param name="ContainerName">The container (its name is the host name on the network).</param>
/// <param name="Network">The network it is on.</param>
/// <param name="Volume">Its data volume.</param>
/// <param name="Url">The application's <c>DATABASE_URL</c> (its <c>ToString</c> hides the password).</param>
/// <param name="CredentialsFile">Where the URL is kept.</param>
/// <param name="Action">What was done.</param>
public sealed record DatabaseServerReport(string ContainerName, string Network, string Volume, DatabaseUrl Url, string CredentialsFile, DatabaseServerAction Action);

/// <summary>
/// Makes sure a PostgreSQL server runs in a container on the pipeline network (labelled <c>pipeline.role=database</c>),
/// with its data in a named volume that no deploy, rollback or retire touches. The application role's password is
/// generated once, written to <see cref="DatabaseServerOptions.Credentials"/> (mode 0600) before anything is created,
/// handed to the new container as a file its start script deletes after creating the role, and never logged.
/// Repo tooling (a user's database is theirs); knows nothing of Cake.
/// </summary>
/// <param name="engine">The engine the releases run on (the production engine).</param>
/// <param name="log">Receives one line per thing done or found (no secrets).</param>
/// <param name="time">The clock for the start timeout; the system clock by default.</param>
public sealed class DatabaseServer(IDockerEngine engine, Action<string> log, TimeProvider? time = null)
{
    /// <summary>The label value of <c>pipeline.role</c> on the database container and its volume.</summary>
    public const string Role = Roles.Database;

    /// <summary>The label that names the database container on it and its volume.</summary>
    public const string DatabaseLabel = "pipeline.database";

    private const string DataPath = "/var/lib/postgresql/data";
    private const string ScriptPath = "/usr/local/bin/pipeline-database";
    // Files go into folders the image has: an upload into a missing folder can fail with a broken pipe.
    private const string PasswordPath = "/etc/pipeline-database-password";
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Makes sure the server runs and the application's credentials work; returns its URL.</summary>
    /// <exception cref="ProvisioningException">The server cannot be made ready; the message says why and what to do.</exception>
    public async Task<DatabaseServerReport> EnsureAsync(DatabaseServerOptions options, CancellationToken ct = default)
    {
        options.Validate();
        var labels = new Dictionary<string, string> { [Labels.Role] = Role, [DatabaseLabel] = options.ContainerName };
        var volumeExists = (await engine.ListVolumesAsync(labels, ct).ConfigureAwait(false)).Any(v => v.Name == options.Volume);
        var url = ReadCredentials(options);
        if (url is null && volumeExists)
        {
            throw new ProvisioningException(
                $"The volume {options.Volume} holds the database of {options.ContainerName}, but its credentials file {options.Credentials} is missing, so its password is unknown. "
                + $"Restore {options.Credentials}, or remove the volume to start afresh (docker rm -f {options.ContainerName}; docker volume rm {options.Volume} — this deletes the data).");
        }

        if (url is null)
        {
            url = DatabaseUrl.Create(options.ContainerName, 5432, options.User, GeneratePassword(), options.Database);
            WriteCredentials(options.Credentials, url);
            log($"Generated the password of role {options.User}; DATABASE_URL is in {options.Credentials} (mode 0600): {url.Redacted}");
        }

        var action = await EnsureContainerAsync(options, url, labels, volumeExists, ct).ConfigureAwait(false);
        await WaitUntilReadyAsync(options, ct).ConfigureAwait(false);

        // Connect the way a release and the migration runner do: from a container on the network, with the password.
        try
        {
            var runner = new MigrationRunner(engine, new MigrationRunnerOptions { Database = url, Network = options.Network, Image = options.Image, Labels = labels });
            await (await runner.OpenAsync(ct).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (DatabaseUnreachableException e)
        {
            throw new ProvisioningException($"{options.ContainerName} runs, but the credentials in {options.Credentials} do not connect: {e.Message}");
        }

        log($"Database {options.ContainerName} on network {options.Network} accepts {url.Redacted} (data in volume {options.Volume}).");
        return new DatabaseServerReport(options.ContainerName, options.Network, options.Volume, url, options.Credentials, action);
    }

    private async Task<DatabaseServerAction> EnsureContainerAsync(DatabaseServerOptions options, DatabaseUrl url, Dictionary<string, string> labels, bool volumeExists, CancellationToken ct)
    {
        var existing = await engine.InspectContainerAsync(options.ContainerName, ct).ConfigureAwait(false);
        if (existing is not null)
        {
            if (!existing.Labels.TryGetValue(Labels.Role, out var role) || role != Role)
            {
                throw new ProvisioningException($"A container named {options.ContainerName} exists but is not a Pipeline database (no label {Labels.Role}={Role}); choose another container name.");
            }

            if (existing.IsRunning)
            {
                log($"Database {options.ContainerName} runs; left as it is.");
                return DatabaseServerAction.Existed;
            }

            log($"Database {options.ContainerName} is {existing.State}; starting it (its data in {options.Volume} is kept).");
            await engine.StartContainerAsync(existing.Id, ct).ConfigureAwait(false);
            return DatabaseServerAction.Started;
        }

        var image = ImageRef.Parse(options.Image);
        if (!await engine.ImageExistsAsync(image.ToString(), ct).ConfigureAwait(false))
        {
            await engine.PullImageAsync(image, ct: ct).ConfigureAwait(false);
        }

        await engine.EnsureNetworkAsync(options.Network, new Dictionary<string, string> { [Labels.Role] = Roles.Network }, ct).ConfigureAwait(false);
        if (!volumeExists)
        {
            await engine.CreateVolumeAsync(options.Volume, labels, ct).ConfigureAwait(false);
        }

        var id = await engine.CreateContainerAsync(
            new ContainerSpec
            {
                Name = options.ContainerName,
                Image = image.ToString(),
                Command = ["sh", ScriptPath],
                Network = options.Network,
                Labels = labels,
                RestartPolicy = "unless-stopped",
                Volumes = new Dictionary<string, string> { [options.Volume] = DataPath },
                Environment = new Dictionary<string, string>
                {
                    ["PGDATA"] = DataPath,
                    ["DATABASE_NAME"] = options.Database,
                    ["DATABASE_USER"] = options.User,
                },
            },
            ct).ConfigureAwait(false);
        await engine.PutFileAsync(id, ScriptPath, Encoding.UTF8.GetBytes(StartScript), ct).ConfigureAwait(false);
        await engine.PutFileAsync(id, PasswordPath, Encoding.UTF8.GetBytes(url.Password), ct).ConfigureAwait(false);
        await engine.StartContainerAsync(id, ct).ConfigureAwait(false);
        log(volumeExists
            ? $"Created {options.ContainerName} on network {options.Network} with its existing data volume {options.Volume}."
            : $"Created {options.ContainerName} on network {options.Network}: a new cluster in volume {options.Volume} with database {options.Database} owned by {options.User}.");
        return DatabaseServerAction.Created;
    }

    private async Task WaitUntilReadyAsync(DatabaseServerOptions options, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        var last = "no answer yet";
        while (true)
        {
            var container = await engine.InspectContainerAsync(options.ContainerName, ct).ConfigureAwait(false);
            if (container is not { IsRunning: true })
            {
                throw new ProvisioningException($"{options.ContainerName} stopped ({container?.State ?? "removed"}) before it accepted connections; its output: docker logs {options.ContainerName}.");
            }

            // pg_isready inside the container asks the server on its own loopback: the pipeline's machine needs no route to it.
            var ready = await engine.ExecAsync(container.Id, ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-d", options.Database, "-U", options.User], ct).ConfigureAwait(false);
            if (ready.ExitCode == 0)
            {
                return;
            }

            last = $"pg_isready exited with {ready.ExitCode}";
            if (_time.GetElapsedTime(started) > options.StartTimeout)
            {
                throw new ProvisioningException($"{options.ContainerName} did not accept connections within {options.StartTimeout.TotalSeconds:0.#} s ({last}); its output: docker logs {options.ContainerName}.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), _time, ct).ConfigureAwait(false);
        }
    }

    private static DatabaseUrl? ReadCredentials(DatabaseServerOptions options)
    {
        if (!File.Exists(options.Credentials))
        {
            return null;
        }

        try
        {
            var url = DatabaseUrl.Parse(File.ReadAllText(options.Credentials).Trim());
            return url.Host == options.ContainerName && url.User == options.User && url.Database == options.Database
                ? url
                : throw new ProvisioningException($"{options.Credentials} is for {url.Redacted}, not for role {options.User} and database {options.Database} on {options.ContainerName}; point CredentialsFile elsewhere or fix the options.");
        }
        catch (FormatException e)
        {
            throw new ProvisioningException($"{options.Credentials} does not hold a DATABASE_URL ({e.Message}); restore it or remove it together with the volume {options.Volume}.");
        }
    }

    private static void WriteCredentials(string path, DatabaseUrl url)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new ProvisioningException($"Cannot keep {path} readable by its owner only on Windows; provision the database on Linux.");
        }

        var folder = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(folder))
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(Encoding.UTF8.GetBytes(url.Value + "\n"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static string GeneratePassword() =>
        RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);

    /// <summary>
    /// The container's command: creates the cluster and the application's role and database on an empty volume
    /// (the password read by psql from the file, never on a command line), deletes the password file, runs postgres.
    /// </summary>
    internal const string StartScript = """
        #!/bin/sh
        # Written by Pipeline's DatabaseServer. PostgreSQL with its data in $PGDATA (a named volume). On an empty volume it
        # creates the cluster, then the role $DATABASE_USER (password from /etc/pipeline-database-password) owning $DATABASE_NAME.
        set -eu
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
        secret=/etc/pipeline-database-password
        install -d -o postgres -g postgres -m 0700 "$PGDATA"
        install -d -o postgres -g postgres -m 2775 /run/postgresql
        if [ ! -s "$PGDATA/PG_VERSION" ]; then
          [ -s "$secret" ] || { echo "pipeline-database: $PGDATA is empty and $secret is missing: cannot create the database" >&2; exit 1; }
          runuser -u postgres -- "$bin/initdb" -D "$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
          echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
          runuser -u postgres -- "$bin/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
          chown postgres "$secret"
          runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -v user="$DATABASE_USER" -v db="$DATABASE_NAME" <<'SQL'
        \set password `cat /etc/pipeline-database-password`
        CREATE ROLE :"user" LOGIN PASSWORD :'password';
        CREATE DATABASE :"db" OWNER :"user";
        SQL
          runuser -u postgres -- "$bin/pg_ctl" -D "$PGDATA" -w -m fast stop >/dev/null
          echo "pipeline-database: created database $DATABASE_NAME owned by $DATABASE_USER"
        fi
        rm -f "$secret"
        # docker stop sends SIGTERM (postgres: wait for every client); pass it on as SIGINT (fast shutdown: roll back and stop).
        setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' &
        server=$!
        trap 'kill -INT "$server"' TERM INT
        set +e
        wait "$server"
        status=$?
        # A trapped signal interrupts wait (status above 128): wait again for postgres itself.
        [ "$status" -le 128 ] || { wait "$server"; status=$?; }
        exit "$status"

        """;
}
