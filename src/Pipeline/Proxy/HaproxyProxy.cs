using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>
/// HAProxy in master-worker mode in a container: the config is checked with <c>haproxy -c</c> and activated by a
/// <c>reload</c> on the master CLI socket (through <c>socat</c>, by exec). The master hands the listening sockets
/// to the new worker, so no connection is refused; the old worker finishes what it was doing.
/// </summary>
public sealed class HaproxyProxy : ContainerProxy
{
    /// <summary>The master CLI socket inside the container.</summary>
    public const string MasterSocket = "/run/haproxy-master.sock";

    /// <summary>Creates the adapter; options are validated and the template parsed now.</summary>
    public HaproxyProxy(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider = null)
        : base(WithKind(options), engine, timeProvider)
    {
    }

    /// <inheritdoc />
    public override ProxyKind Kind => ProxyKind.Haproxy;

    /// <inheritdoc />
    public override string LiveConfigPath => "/etc/haproxy/pipeline-proxy.cfg";

    private protected override IReadOnlyList<string> Command => ["/usr/sbin/haproxy", "-W", "-db", "-S", $"{MasterSocket},mode,600", "-f", LiveConfigPath];

    private protected override IReadOnlyList<string> ReadyCommand => MasterCommand("show proc");

    private protected override IReadOnlyList<string> ValidateCommand(string path) => ["/usr/sbin/haproxy", "-c", "-f", path];

    private protected override async Task<IReadOnlySet<string>> ServingProcessesAsync(string containerId, CancellationToken ct)
    {
        var result = await ExecCheckedAsync(containerId, MasterCommand("show proc"), "list the HAProxy workers", ct).ConfigureAwait(false);
        return ParseCurrentWorkers(result.Stdout);
    }

    private protected override Task SignalReloadAsync(string containerId, CancellationToken ct) =>
        ExecCheckedAsync(containerId, MasterCommand("reload"), "reload HAProxy through its master socket", ct);

    /// <summary>The PIDs listed under <c># workers</c> (not <c># old workers</c>) in the master's <c>show proc</c>.</summary>
    internal static IReadOnlySet<string> ParseCurrentWorkers(string showProc)
    {
        var workers = new HashSet<string>();
        var inWorkers = false;
        foreach (var raw in showProc.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith('#'))
            {
                inWorkers = line.Equals("# workers", StringComparison.OrdinalIgnoreCase);
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

    private static string[] MasterCommand(string command) =>
        ["/bin/sh", "-c", $"echo '{command}' | /usr/bin/socat -t 5 stdio unix-connect:{MasterSocket}"];

    private static ProxyOptions WithKind(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind == ProxyKind.Haproxy ? options : throw new ArgumentException($"HaproxyProxy needs options with Kind 'haproxy', not '{options.Kind}'; use ProxyFactory.Create.", nameof(options));
    }
}
