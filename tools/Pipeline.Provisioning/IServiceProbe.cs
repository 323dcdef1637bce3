using Pipeline.Docker;

namespace Pipeline.Provisioning;

/// <summary>Checks whether a service answers. A port so the provisioning decisions can be tested without services.</summary>
public interface IServiceProbe
{
    /// <summary>Sends <c>GET /_ping</c> to a Docker engine (unix socket or tcp, with TLS when the endpoint says so).</summary>
    Task<ProbeResult> PingDockerAsync(DockerEndpoint endpoint, TimeSpan timeout, CancellationToken ct = default);

    /// <summary>
    /// Sends <c>GET /v2/</c> to an image registry (<c>host:port</c>, plain HTTP); it answers when the status is 200 or
    /// 401 and the Docker-Distribution-API-Version header says <c>registry/2.0</c>.
    /// </summary>
    Task<ProbeResult> CheckImageRegistryAsync(string hostAndPort, TimeSpan timeout, CancellationToken ct = default);

    /// <summary>Sends <c>GET /version</c> to etcd; it answers when the status is 200 and the body names the etcd server version.</summary>
    Task<ProbeResult> CheckEtcdAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default);

    /// <summary>Sends <c>GET /api/v1/status/buildinfo</c> to Prometheus; it answers when the status is 200 and the body names Prometheus' version.</summary>
    Task<ProbeResult> CheckPrometheusAsync(Uri prometheus, TimeSpan timeout, CancellationToken ct = default);
}

/// <summary>What a probe found.</summary>
/// <param name="Reachable">True when the service answered.</param>
/// <param name="Detail">The answer (e.g. <c>API 1.41</c>, the version) or why there was none (e.g. <c>connection refused</c>).</param>
public sealed record ProbeResult(bool Reachable, string Detail)
{
    /// <summary>A service that answered.</summary>
    public static ProbeResult Up(string detail) => new(true, detail);

    /// <summary>A service that did not answer.</summary>
    public static ProbeResult Down(string reason) => new(false, reason);
}
