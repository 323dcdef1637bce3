using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>
/// nginx with its Lua module (Debian's libnginx-mod-http-lua) in a container. The built-in config holds no route: a Lua
/// router picks the route by host and longest path prefix from a table in shared memory, and a Lua balancer sends the
/// request to the live colour's upstream (a request whose connection fails is retried on the live colour). The table is
/// loaded from <see cref="StatePath"/> at start and reload, and replaced at runtime by a PUT on a local admin socket over one
/// exec session: a colour switch or a new route needs no reload (nginx 1.22 cannot re-resolve upstreams, and every reload
/// closes idle keep-alive connections under their clients). A config that differs otherwise is checked with
/// <c>nginx -t</c> and activated with <c>nginx -s reload</c>.
/// </summary>
public sealed class NginxProxy : ContainerProxy
{
    /// <summary>The routes nginx loads at start and reload (one line per route and per colour's release).</summary>
    public const string StatePath = "/etc/nginx/pipeline-proxy.state";

    /// <summary>The admin socket inside the container (routes in and out, requests in flight).</summary>
    public const string AdminSocket = "/run/pipeline-nginx.sock";

    /// <summary>The certificate chain and key nginx terminates TLS with (one PEM file, read at each handshake).</summary>
    public const string CertificateFile = "/etc/nginx/pipeline-proxy.pem";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private readonly KeptSession<NginxAdminSession> session;

    /// <summary>Creates the adapter; options are validated and the template parsed now.</summary>
    public NginxProxy(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider = null)
        : base(WithKind(options), engine, timeProvider) =>
        session = new((containerId, ct) => NginxAdminSession.OpenAsync(Engine, containerId, AdminSocket, ct));

    /// <inheritdoc />
    public override ProxyKind Kind => ProxyKind.Nginx;

    /// <inheritdoc />
    public override string LiveConfigPath => "/etc/nginx/pipeline-proxy.conf";

    private protected override string CompanionPath => StatePath;

    private protected override string CertificatePath => CertificateFile;

    // The workers (www-data, see the template) read it at each handshake.
    private protected override string CertificateOwner => "root:www-data";

    // A killed nginx leaves its admin socket behind, and a stale socket file would stop the next start from binding it.
    private protected override IReadOnlyList<string> Command =>
        ["/bin/sh", "-c", $"rm -f {AdminSocket} && exec /usr/sbin/nginx -c {LiveConfigPath} -g 'daemon off;'"];

    private protected override IReadOnlyList<string> ReadyCommand =>
        ["/bin/sh", "-c", "test -s /run/nginx.pid && test -n \"$(cat /proc/1/task/1/children)\""];

    private protected override IReadOnlyList<string> ValidateCommand(string path) => ["/usr/sbin/nginx", "-t", "-q", "-c", path, "-g", "daemon off;"];

    private protected override bool CanSwitchAtRuntime(ProxyShape shape) =>
        !shape.PrintsLiveValues && !shape.PrintsMemberAddresses && !shape.PrintsMemberVersions;

    /// <summary>
    /// <c>route {id} {service} {live colour} {host or *} {path prefix}</c> per route (longest prefix first), then
    /// <c>release {id} {colour} {version} {address:port,…}</c> per colour that has a release.
    /// </summary>
    private protected override string Companion(ProxyTemplateModel model)
    {
        var state = new StringBuilder();
        foreach (var route in model.Routes)
        {
            state.Append(CultureInfo.InvariantCulture, $"route {route.Id} {route.Service} {route.Color} {(route.HostName.Length == 0 ? "*" : route.HostName)} {route.PathPrefix}\n");
            foreach (var release in route.Members.Where(m => !m.Placeholder).GroupBy(m => m.Color))
            {
                state.Append(CultureInfo.InvariantCulture, $"release {route.Id} {release.Key} {release.First().Version} {string.Join(',', release.Select(m => m.Endpoint))}\n");
            }
        }

        return state.ToString();
    }

    private protected override async Task<IReadOnlySet<string>> ServingProcessesAsync(string containerId, CancellationToken ct)
    {
        // nginx runs as PID 1; its children are the workers. A reload starts new ones; an old one still accepts connections
        // (with the old config) until it has closed its listeners and calls itself "worker process is shutting down".
        var result = await ExecCheckedAsync(
            containerId,
            ["/bin/sh", "-c", "for p in $(cat /proc/1/task/1/children); do grep -q 'shutting down' /proc/$p/cmdline 2>/dev/null || echo $p; done"],
            "list the nginx workers",
            ct).ConfigureAwait(false);
        return result.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
    }

    private protected override async Task<bool> AnswersOnSessionAsync(string containerId, CancellationToken ct)
    {
        try
        {
            return (await AdminAsync(containerId, "GET", "/state", null, ct).ConfigureAwait(false)).Status == 200;
        }
        catch (ProxyException)
        {
            // No admin socket (a user template without it) or not up yet.
            return false;
        }
    }

    private protected override async Task SignalReloadAsync(string containerId, CancellationToken ct)
    {
        await ExecCheckedAsync(containerId, ["/usr/sbin/nginx", "-c", LiveConfigPath, "-g", "daemon off;", "-s", "reload"], "reload nginx", ct).ConfigureAwait(false);

        // The admin connection belongs to an old worker now, which exits once idle: talk to a new one from here on.
        await CloseSessionAsync().ConfigureAwait(false);
    }

    private protected override async Task<bool> ApplyRuntimeAsync(string containerId, ProxyTemplateModel model, CancellationToken ct)
    {
        var desired = Companion(model);
        var (status, running) = await AdminAsync(containerId, "GET", "/state", null, ct).ConfigureAwait(false);
        if (status == 404)
        {
            throw new ProxyRuntimeMismatchException($"nginx in '{Options.ContainerName}' has no admin endpoint at {AdminSocket}.");
        }

        if (status == 200 && running == desired)
        {
            return false;
        }

        var (putStatus, answer) = await AdminAsync(containerId, "PUT", "/state", desired, ct).ConfigureAwait(false);
        if (putStatus != 200)
        {
            throw new ProxyException($"nginx in '{Options.ContainerName}' refused the new routes (HTTP {putStatus}): {answer.Trim()}; the file on disk was not changed.");
        }

        return true;
    }

    // The config names the certificate through a variable, so nginx reads the file at each handshake: replacing the
    // file (one rename) is the whole change.
    private protected override Task ReplaceCertificateAsync(string containerId, string pem, CancellationToken ct) =>
        WriteCertificateFileAsync(containerId, pem, ct);

    private protected override async Task<int> CountInFlightAsync(string containerId, Regex routeId, string color, CancellationToken ct)
    {
        var (status, body) = await AdminAsync(containerId, "GET", "/inflight", null, ct).ConfigureAwait(false);
        if (status != 200)
        {
            throw new ProxyException($"nginx in '{Options.ContainerName}' did not say how many requests are in flight (HTTP {status}): {body.Trim()}");
        }

        // One line per route and colour: "{route id} {colour} {count}".
        return body.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Where(f => f.Length == 3 && routeId.IsMatch(f[0]) && f[1] == color)
            .Sum(f => int.Parse(f[2], CultureInfo.InvariantCulture));
    }

    private protected override void CloseSession() => session.Close();

    private protected override ValueTask CloseSessionAsync() => session.CloseAsync();

    /// <summary>
    /// One request over the admin connection, opening it (again) when it is not open or nginx closed it (idle, or its
    /// worker left after a reload).
    /// </summary>
    private Task<(int Status, string Body)> AdminAsync(string containerId, string method, string path, string? body, CancellationToken ct) =>
        session.UseAsync(
            containerId,
            (admin, t) => admin.SendAsync(method, path, body, t),
            CommandTimeout,
            e => e is IOException or DockerEngineException or InvalidDataException or FormatException,
            e => new ProxyException($"Could not talk to nginx's admin socket {AdminSocket} in '{Options.ContainerName}' ({method} {path}): {e.Message}", e),
            ct);

    private static ProxyOptions WithKind(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind == ProxyKind.Nginx ? options : throw new ArgumentException($"NginxProxy needs options with Kind 'nginx', not '{options.Kind}'; use ProxyFactory.Create.", nameof(options));
    }
}
