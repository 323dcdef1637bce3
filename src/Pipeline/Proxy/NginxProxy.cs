using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>
/// nginx in a container: the config is checked with <c>nginx -t</c> and activated with <c>nginx -s reload</c>
/// (new workers take new connections, old ones finish their requests). A reload closes idle keep-alive
/// connections, so clients that reuse a connection at that instant may see it fail (measured: a few per 20
/// reloads under load; none with <c>Connection: close</c>); use HAProxy where that matters.
/// </summary>
public sealed class NginxProxy : ContainerProxy
{
    /// <summary>Creates the adapter; options are validated and the template parsed now.</summary>
    public NginxProxy(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider = null)
        : base(WithKind(options), engine, timeProvider)
    {
    }

    /// <inheritdoc />
    public override ProxyKind Kind => ProxyKind.Nginx;

    /// <inheritdoc />
    public override string LiveConfigPath => "/etc/nginx/pipeline-proxy.conf";

    private protected override IReadOnlyList<string> Command => ["/usr/sbin/nginx", "-c", LiveConfigPath, "-g", "daemon off;"];

    private protected override IReadOnlyList<string> ReadyCommand =>
        ["/bin/sh", "-c", "test -s /run/nginx.pid && test -n \"$(cat /proc/1/task/1/children)\""];

    private protected override IReadOnlyList<string> ValidateCommand(string path) => ["/usr/sbin/nginx", "-t", "-q", "-c", path, "-g", "daemon off;"];

    private protected override async Task<IReadOnlySet<string>> ServingProcessesAsync(string containerId, CancellationToken ct)
    {
        // nginx runs as PID 1; its children are the workers. A reload starts new ones.
        var result = await ExecCheckedAsync(containerId, ["/bin/cat", "/proc/1/task/1/children"], "list the nginx workers", ct).ConfigureAwait(false);
        return result.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
    }

    private protected override Task SignalReloadAsync(string containerId, CancellationToken ct) =>
        ExecCheckedAsync(containerId, ["/usr/sbin/nginx", "-c", LiveConfigPath, "-g", "daemon off;", "-s", "reload"], "reload nginx", ct);

    private static ProxyOptions WithKind(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Kind == ProxyKind.Nginx ? options : throw new ArgumentException($"NginxProxy needs options with Kind 'nginx', not '{options.Kind}'; use ProxyFactory.Create.", nameof(options));
    }
}
