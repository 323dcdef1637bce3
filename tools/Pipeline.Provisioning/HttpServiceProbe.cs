using System.Text.RegularExpressions;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Docker;

namespace Pipeline.Provisioning;

/// <summary>Probes services with plain HTTP (HTTPS for an engine with TLS and a registry that speaks only HTTPS); Docker's unix socket is spoken to directly (no Docker client library).</summary>
public sealed partial class HttpServiceProbe : IServiceProbe
{
    /// <inheritdoc />
    public async Task<ProbeResult> PingDockerAsync(DockerEndpoint endpoint, TimeSpan timeout, CancellationToken ct = default)
    {
        var host = endpoint.Host;
        SocketsHttpHandler handler = new() { ConnectTimeout = timeout, UseProxy = false };
        Uri url;
        if (host.Scheme == "unix")
        {
            var socketPath = host.LocalPath;
            if (!File.Exists(socketPath))
            {
                return ProbeResult.Down($"{socketPath} does not exist");
            }

            handler.ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            url = new Uri("http://docker/_ping");
        }
        else
        {
            var scheme = endpoint.TlsVerify || host.Scheme == "https" ? "https" : "http";
            url = new Uri($"{scheme}://{host.Host}:{(host.IsDefaultPort ? 2375 : host.Port)}/_ping");
            if (scheme == "https")
            {
                ConfigureTls(handler, endpoint.CertPath ?? DockerEndpoint.DefaultCertPath);
            }
        }

        using var client = new HttpClient(handler) { Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(url, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            var api = response.Headers.TryGetValues("Api-Version", out var values) ? values.FirstOrDefault() : null;
            if (!response.IsSuccessStatusCode || (api is null && body.Trim() != "OK"))
            {
                return ProbeResult.Down($"GET /_ping answered {(int)response.StatusCode} without Api-Version, so it is no Docker engine");
            }

            return ProbeResult.Up(api is null ? "OK" : $"API {api}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or SocketException && !ct.IsCancellationRequested)
        {
            return ProbeResult.Down(Reason(e, timeout));
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Plain HTTP first; a registry that answers it with 400 speaks HTTPS (Go's answer to HTTP on a TLS port), and is
    /// asked again over HTTPS, trusting the CAs Docker trusts for it (<c>/etc/docker/certs.d/HOST:PORT/*.crt</c>).
    /// </remarks>
    public async Task<ProbeResult> CheckImageRegistryAsync(string hostAndPort, TimeSpan timeout, CancellationToken ct = default)
    {
        var plain = await GetAsync(new Uri($"http://{hostAndPort}/v2/"), timeout, JudgeImageRegistry, ct).ConfigureAwait(false);
        if (plain.Reachable || !plain.Detail.Contains(" answered 400 ", StringComparison.Ordinal))
        {
            return plain;
        }

        var authorities = Directory.Exists(Path.Combine(DockerCertsDirectory, hostAndPort))
            ? Directory.GetFiles(Path.Combine(DockerCertsDirectory, hostAndPort), "*.crt")
            : [];
        return await GetAsync(new Uri($"https://{hostAndPort}/v2/"), timeout, JudgeImageRegistry, ct, handler => TrustOnly(handler, authorities)).ConfigureAwait(false);
    }

    /// <summary>Docker's folder of per-registry CAs.</summary>
    public const string DockerCertsDirectory = "/etc/docker/certs.d";

    private static ProbeResult JudgeImageRegistry(Uri url, HttpResponseMessage response, string body)
    {
        var api = response.Headers.TryGetValues("Docker-Distribution-API-Version", out var values) ? values.FirstOrDefault() : null;
        var status = (int)response.StatusCode;
        return (status is 200 or 401) && api is not null && api.StartsWith("registry/2", StringComparison.Ordinal)
            ? ProbeResult.Up($"{api} API")
            : ProbeResult.Down($"GET {url} answered {status} without Docker-Distribution-API-Version: registry/2.0, so it is no image registry");
    }

    /// <summary>Accepts a server certificate that chains to one of <paramref name="caFiles"/> (and names the host), or that the system trusts.</summary>
    private static void TrustOnly(SocketsHttpHandler handler, IReadOnlyList<string> caFiles) =>
        handler.SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ChainsTo(caFiles) };

    /// <summary>
    /// A validation that accepts what the system trusts, or a certificate that names the host and chains to one of the
    /// certificates in <paramref name="caFiles"/> (PEM bundles: every certificate in each file is an authority).
    /// </summary>
    private static RemoteCertificateValidationCallback ChainsTo(IEnumerable<string> caFiles)
    {
        var authorities = new X509Certificate2Collection();
        foreach (var file in caFiles)
        {
            authorities.ImportFromPemFile(file);
        }

        return (_, certificate, _, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            if (certificate is null || authorities.Count == 0 || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(certificate));
        };
    }

    /// <inheritdoc />
    public Task<ProbeResult> CheckEtcdAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default) =>
        GetAsync(new Uri(etcd, "/version"), timeout, (url, response, body) =>
            response.IsSuccessStatusCode && EtcdVersion().Match(body) is { Success: true } match
                ? ProbeResult.Up($"etcd {match.Groups[1].Value}")
                : ProbeResult.Down($"GET {url} answered {(int)response.StatusCode} without an etcdserver version, so it is no etcd"), ct);

    /// <inheritdoc />
    public Task<ProbeResult> CheckPrometheusAsync(Uri prometheus, TimeSpan timeout, CancellationToken ct = default) =>
        GetAsync(new Uri(prometheus, "api/v1/status/buildinfo"), timeout, (url, response, body) =>
            response.IsSuccessStatusCode && PrometheusVersion().Match(body) is { Success: true } match
                ? ProbeResult.Up($"Prometheus {match.Groups[1].Value}")
                : ProbeResult.Down($"GET {url} answered {(int)response.StatusCode} without a Prometheus version, so it is no Prometheus (or it is still starting)"), ct);

    private static async Task<ProbeResult> GetAsync(Uri url, TimeSpan timeout, Func<Uri, HttpResponseMessage, string, ProbeResult> judge, CancellationToken ct, Action<SocketsHttpHandler>? configure = null)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = timeout, UseProxy = false };
        configure?.Invoke(handler);
        using var client = new HttpClient(handler) { Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(url, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            return judge(url, response, body);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or SocketException && !ct.IsCancellationRequested)
        {
            return ProbeResult.Down(Reason(e, timeout));
        }
    }

    private static string Reason(Exception e, TimeSpan timeout) => e switch
    {
        TaskCanceledException => $"no answer within {timeout.TotalSeconds:0.#} s",
        _ when e.GetBaseException() is SocketException s => s.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.AddressNotAvailable or SocketError.HostNotFound => $"host not found ({s.Message})",
            _ => s.Message,
        },
        _ => e.GetBaseException().Message,
    };

    private static void ConfigureTls(SocketsHttpHandler handler, string certPath)
    {
        var caFile = Path.Combine(certPath, "ca.pem");
        var certFile = Path.Combine(certPath, "cert.pem");
        var keyFile = Path.Combine(certPath, "key.pem");
        var options = new SslClientAuthenticationOptions();
        if (File.Exists(certFile) && File.Exists(keyFile))
        {
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(certFile, keyFile)];
        }

        if (File.Exists(caFile))
        {
            options.RemoteCertificateValidationCallback = ChainsTo([caFile]);
        }

        handler.SslOptions = options;
    }

    [GeneratedRegex("\"etcdserver\"\\s*:\\s*\"([^\"]+)\"")]
    private static partial Regex EtcdVersion();

    [GeneratedRegex("\"status\"\\s*:\\s*\"success\".*\"version\"\\s*:\\s*\"([^\"]+)\"", RegexOptions.Singleline)]
    private static partial Regex PrometheusVersion();
}
