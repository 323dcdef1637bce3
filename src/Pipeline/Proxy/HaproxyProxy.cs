using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>
/// HAProxy in master-worker mode in a container. Each route is a backend with one server per colour; a colour switch
/// sets server addresses and states (and the version map) through the Runtime API, over one master-CLI session in prompt
/// mode (an exec of <c>socat</c> that stays open), with no reload. A change to the set of routes is checked with
/// <c>haproxy -c</c> and activated by a <c>reload</c> on the master socket: the master hands the listening sockets to the new
/// worker, so no connection is refused, and the old worker finishes what it was doing.
/// </summary>
public sealed partial class HaproxyProxy : ContainerProxy
{
    /// <summary>The master CLI socket inside the container.</summary>
    public const string MasterSocket = "/run/haproxy-master.sock";

    /// <summary>The map from <c>{route id}/{colour}</c> to the version the X-Pipeline-Version header says.</summary>
    public const string MapPath = "/etc/haproxy/pipeline-proxy.map";

    /// <summary>The certificate chain and key HAProxy terminates TLS with (one PEM file).</summary>
    public const string CertificateFile = "/etc/haproxy/pipeline-proxy.pem";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ShowProcTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan OldWorkerTimeout = TimeSpan.FromSeconds(2);
    private readonly KeptSession<HaproxyCliSession> session;

    /// <summary>Creates the adapter; options are validated and the template parsed now.</summary>
    public HaproxyProxy(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider = null)
        : base(WithKind(options), engine, timeProvider) =>
        session = new((containerId, ct) => HaproxyCliSession.OpenAsync(Engine, containerId, MasterSocket, ct));

    /// <inheritdoc />
    public override ProxyKind Kind => ProxyKind.Haproxy;

    /// <inheritdoc />
    public override string LiveConfigPath => "/etc/haproxy/pipeline-proxy.cfg";

    private protected override string CompanionPath => MapPath;

    private protected override string CertificatePath => CertificateFile;

    // Only the master (root) reads it: at start and reload, and through the Runtime API.
    private protected override string CertificateOwner => "root:root";

    private protected override IReadOnlyList<string> Command => ["/usr/sbin/haproxy", "-W", "-db", "-S", $"{MasterSocket},mode,600", "-f", LiveConfigPath];

    private protected override IReadOnlyList<string> ReadyCommand =>
        ["/bin/sh", "-c", $"echo 'show proc' | /usr/bin/socat -t 5 stdio unix-connect:{MasterSocket}"];

    private protected override IReadOnlyList<string> ValidateCommand(string path) => ["/usr/sbin/haproxy", "-c", "-f", path];

    private protected override string ForValidation(string config, string candidateCompanionPath) =>
        config.Replace(MapPath, candidateCompanionPath, StringComparison.Ordinal);

    private protected override bool CanSwitchAtRuntime(ProxyShape shape) => !shape.PrintsLiveValues && !shape.PrintsMemberVersions;

    private protected override string Companion(ProxyTemplateModel model)
    {
        var map = new StringBuilder();
        foreach (var (key, version) in VersionEntries(model))
        {
            map.Append(key).Append(' ').Append(version).Append('\n');
        }

        return map.ToString();
    }

    private protected override async Task<IReadOnlySet<string>> ServingProcessesAsync(string containerId, CancellationToken ct)
    {
        // Briefly: a session opened while the master re-executes itself for a reload can get no answer and no end, and
        // a reload's activation asks again and again within its deadline (seen on a busy swarm manager).
        var answer = await CliAsync(containerId, ["show proc"], ct, ShowProcTimeout).ConfigureAwait(false);
        return ParseCurrentWorkers(answer[0]);
    }

    private protected override async Task<bool> AnswersOnSessionAsync(string containerId, CancellationToken ct)
    {
        try
        {
            return (await ServingProcessesAsync(containerId, ct).ConfigureAwait(false)).Count > 0;
        }
        catch (ProxyException)
        {
            return false;
        }
    }

    private protected override Task SignalReloadAsync(string containerId, CancellationToken ct) =>
        // The master re-executes itself and closes every CLI connection: this session ends with it.
        session.UseThenCloseAsync(containerId, (cli, t) => cli.SendWithoutAnswerAsync("reload", t), ct);

    private protected override async Task<bool> ApplyRuntimeAsync(string containerId, ProxyTemplateModel model, CancellationToken ct)
    {
        if (model.Routes.Count == 0)
        {
            return false;
        }

        var state = await CliAsync(containerId, ["@1 show servers state", $"@1 show map {MapPath}"], ct).ConfigureAwait(false);
        var servers = ParseServersState(state[0]);
        var map = ParseMap(state[1]);
        var first = new List<string>();
        var enable = new List<string>();
        var disable = new List<string>();
        foreach (var route in model.Routes)
        {
            foreach (var member in route.Members)
            {
                var name = $"{route.Id}/{member.Name}";
                if (!servers.TryGetValue(name, out var running))
                {
                    throw new ProxyRuntimeMismatchException($"HAProxy has no server {name}: {state[0]}");
                }

                if (running.Address != member.Address || running.Port != member.Port)
                {
                    first.Add($"@1 set server {name} addr {member.Address} port {member.Port.ToString(CultureInfo.InvariantCulture)}");
                }

                if (member.Active && !running.Serving)
                {
                    enable.Add($"@1 set server {name} state ready");
                }
                else if (!member.Active && running.Serving)
                {
                    disable.Add($"@1 set server {name} state maint");
                }
            }
        }

        var versions = VersionEntries(model).ToDictionary(e => e.Key, e => e.Version, StringComparer.Ordinal);
        foreach (var (key, version) in versions)
        {
            if (!map.TryGetValue(key, out var current))
            {
                first.Add($"@1 add map {MapPath} {key} {version}");
            }
            else if (current != version)
            {
                first.Add($"@1 set map {MapPath} {key} {version}");
            }
        }

        first.AddRange(map.Keys.Where(k => !versions.ContainsKey(k)).Select(k => $"@1 del map {MapPath} {k}"));

        // New addresses and versions first, then the new colour in, then the old one out: a request always finds a server.
        var commands = first.Concat(enable).Concat(disable).ToList();
        if (commands.Count == 0)
        {
            return false;
        }

        var answers = await CliAsync(containerId, commands, ct).ConfigureAwait(false);
        for (var i = 0; i < commands.Count; i++)
        {
            if (!Succeeded(answers[i]))
            {
                throw new ProxyException(
                    $"HAProxy in '{Options.ContainerName}' refused the runtime change `{commands[i]}`: {answers[i].Trim()} " +
                    $"({i} of {commands.Count} changes were made before it; the file on disk was not changed).");
            }
        }

        return true;
    }

    private protected override async Task ReplaceCertificateAsync(string containerId, string pem, CancellationToken ct)
    {
        // A Runtime API transaction: new handshakes use the new certificate once committed, open connections keep theirs.
        var loaded = (await CliAsync(containerId, [$"@1 show ssl cert {CertificateFile}"], ct).ConfigureAwait(false))[0];
        if (!loaded.Contains($"Filename: {CertificateFile}", StringComparison.Ordinal))
        {
            throw new ProxyException($"HAProxy in '{Options.ContainerName}' does not serve {CertificateFile} (its config has no HTTPS bind?): {loaded.Trim()}");
        }

        await session.UseAsync(
            containerId,
            async (cli, t) =>
            {
                var set = await cli.SendWithPayloadAsync($"@1 set ssl cert {CertificateFile}", pem, t).ConfigureAwait(false);
                if (!set.Contains("Transaction created", StringComparison.Ordinal) && !set.Contains("Transaction updated", StringComparison.Ordinal))
                {
                    throw new ProxyException($"HAProxy in '{Options.ContainerName}' refused the new certificate for {CertificateFile}: {set}");
                }

                var commit = (await cli.SendAsync([$"@1 commit ssl cert {CertificateFile}"], t).ConfigureAwait(false))[0];
                if (!commit.Contains("Success!", StringComparison.Ordinal))
                {
                    await cli.SendAsync([$"@1 abort ssl cert {CertificateFile}"], t).ConfigureAwait(false);
                    throw new ProxyException($"HAProxy in '{Options.ContainerName}' could not commit the new certificate for {CertificateFile}: {commit.Trim()}");
                }

                return true;
            },
            CommandTimeout,
            e => e is IOException,
            e => new ProxyException($"Could not talk to HAProxy's master socket in '{Options.ContainerName}' to replace the certificate: {e.Message}", e),
            ct,
            once: true).ConfigureAwait(false);

        await WriteCertificateFileAsync(containerId, pem, ct).ConfigureAwait(false);
    }

    private protected override async Task<int> CountInFlightAsync(string containerId, Regex routeId, string color, CancellationToken ct)
    {
        int Count(string stat) => ParseStat(stat)
            .Where(row => routeId.IsMatch(row.Backend) && (row.Server == color || row.Server.StartsWith(color + "_", StringComparison.Ordinal)))
            .Sum(row => row.Current + row.Queued);

        var answers = await CliAsync(containerId, ["show proc", "@1 show stat -1 4 -1"], ct).ConfigureAwait(false);
        var total = Count(answers[1]);

        // Old workers (still finishing after a reload) route with the servers they had when it happened, so their requests
        // to the colour count, and so does a client connection they still hold (its next request would go by their old
        // routes; they close it within the keep-alive timeout). One may exit between "show proc" and the question, and the
        // master then answers no more on that session: ask each on its own, briefly, and count one that cannot be asked
        // but is still listed as one request in flight.
        var current = ParseCurrentWorkers(answers[0]);
        foreach (var pid in ParseAllWorkers(answers[0]).Except(current))
        {
            try
            {
                var stat = (await CliAsync(containerId, [$"@!{pid} show stat -1 5 -1"], ct, OldWorkerTimeout, once: true).ConfigureAwait(false))[0];
                total += Count(stat) + (ParseStat(stat).Any(row => row.Server == "FRONTEND" && row.Current > 0) ? 1 : 0);
            }
            catch (ProxyException)
            {
                var still = ParseAllWorkers((await CliAsync(containerId, ["show proc"], ct).ConfigureAwait(false))[0]);
                total += still.Contains(pid) ? 1 : 0;
            }
        }

        return total;
    }

    private protected override void CloseSession() => session.Close();

    private protected override ValueTask CloseSessionAsync() => session.CloseAsync();

    /// <summary>The PIDs listed under <c># workers</c> (not <c># old workers</c>) in the master's <c>show proc</c>.</summary>
    internal static IReadOnlySet<string> ParseCurrentWorkers(string showProc) => ParseWorkers(showProc, includeOld: false);

    /// <summary>The PIDs of every worker, current and old, in the master's <c>show proc</c>.</summary>
    internal static IReadOnlySet<string> ParseAllWorkers(string showProc) => ParseWorkers(showProc, includeOld: true);

    /// <summary>Servers in <c>show servers state</c>: <c>backend/server</c> → address, port, and whether it takes new requests.</summary>
    internal static Dictionary<string, (string Address, int Port, bool Serving)> ParseServersState(string answer)
    {
        var servers = new Dictionary<string, (string, int, bool)>(StringComparer.Ordinal);
        string[]? columns = null;
        foreach (var line in answer.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                columns = line[2..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                continue;
            }

            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (columns is null || fields.Length < columns.Length)
            {
                continue;
            }

            string Field(string name) => fields[Array.IndexOf(columns, name)];
            var admin = int.Parse(Field("srv_admin_state"), CultureInfo.InvariantCulture);

            // Maintenance (forced 0x01, inherited 0x02, resolution 0x20) or drain (0x08, 0x10): no new requests.
            servers[$"{Field("be_name")}/{Field("srv_name")}"] = (Field("srv_addr"), int.Parse(Field("srv_port"), CultureInfo.InvariantCulture), (admin & 0x3B) == 0);
        }

        return servers;
    }

    /// <summary>Entries of <c>show map</c> (<c>0x… key value</c> per line).</summary>
    internal static Dictionary<string, string> ParseMap(string answer)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in answer.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 3 && fields[0].StartsWith("0x", StringComparison.Ordinal))
            {
                entries[fields[1]] = fields[2];
            }
            else
            {
                throw new ProxyRuntimeMismatchException($"HAProxy does not list the map {MapPath}: {answer.Trim()}");
            }
        }

        return entries;
    }

    /// <summary>Server rows of <c>show stat</c> CSV: backend, server, current and queued sessions.</summary>
    internal static IEnumerable<(string Backend, string Server, int Current, int Queued)> ParseStat(string csv)
    {
        string[]? columns = null;
        foreach (var line in csv.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                columns = line[2..].Split(',');
                continue;
            }

            var fields = line.Split(',');
            if (columns is null || fields.Length < columns.Length)
            {
                continue;
            }

            int Number(string name) => int.TryParse(fields[Array.IndexOf(columns, name)], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
            yield return (fields[Array.IndexOf(columns, "pxname")], fields[Array.IndexOf(columns, "svname")], Number("scur"), Number("qcur"));
        }
    }

    private static IReadOnlySet<string> ParseWorkers(string showProc, bool includeOld)
    {
        var workers = new HashSet<string>();
        var inWorkers = false;
        foreach (var raw in showProc.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('#'))
            {
                inWorkers = line.Equals("# workers", StringComparison.OrdinalIgnoreCase)
                    || (includeOld && line.Equals("# old workers", StringComparison.OrdinalIgnoreCase));
                continue;
            }

            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (inWorkers && fields.Length >= 2 && fields[1] == "worker")
            {
                workers.Add(fields[0]);
            }
        }

        return workers;
    }

    /// <summary>An answer to a <c>set</c>/<c>add</c>/<c>del</c> command that reports success (empty, or "… changed from …").</summary>
    private static bool Succeeded(string answer)
    {
        var text = answer.Trim();
        return text.Length == 0 || text.Contains("changed from", StringComparison.Ordinal) || text.StartsWith("no need to change", StringComparison.Ordinal);
    }

    /// <summary>One version per route and colour that has a release: <c>{route id}/{colour}</c> → version.</summary>
    private static IEnumerable<(string Key, string Version)> VersionEntries(ProxyTemplateModel model) =>
        model.Routes.SelectMany(route => route.Members
            .Where(m => !m.Placeholder && m.Name == m.Color)
            .Select(m => ($"{route.Id}/{m.Color}", m.Version)));

    /// <summary>
    /// Sends commands over the session, opening it (again) when it is not open or has ended: a reload closes the master's
    /// CLI connections, and socat exits with it, so nothing was executed.
    /// </summary>
    private Task<IReadOnlyList<string>> CliAsync(string containerId, IReadOnlyList<string> commands, CancellationToken ct, TimeSpan? timeout = null, bool once = false) =>
        session.UseAsync(
            containerId,
            (cli, t) => cli.SendAsync(commands, t),
            timeout ?? CommandTimeout,
            e => e is IOException or DockerEngineException,
            e => new ProxyException($"Could not talk to HAProxy's master socket in '{Options.ContainerName}' ({string.Join("; ", commands.Take(3))}…): {e.Message}", e),
            ct,
            once);

    private static ProxyOptions WithKind(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind == ProxyKind.Haproxy ? options : throw new ArgumentException($"HaproxyProxy needs options with Kind 'haproxy', not '{options.Kind}'; use ProxyFactory.Create.", nameof(options));
    }
}
