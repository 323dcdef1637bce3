using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Docker;

namespace Pipeline.Provisioning;

/// <summary>Probes services with plain HTTP; Docker's unix socket is spoken to directly (no Docker client library).</summary>
public sealed class HttpServiceProbe : IServiceProbe
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
            if (scheme == "https" && endpoint.CertPath is { } certPath)
            {
                ConfigureTls(handler, certPath);
            }
        }

        using var client = new HttpClient(handler) { Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(url, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return ProbeResult.Down($"GET /_ping answered {(int)response.StatusCode}: {body.Trim()}");
            }

            var api = response.Headers.TryGetValues("Api-Version", out var values) ? values.FirstOrDefault() : null;
            return ProbeResult.Up(api is null ? body.Trim() : $"API {api}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or SocketException && !ct.IsCancellationRequested)
        {
            return ProbeResult.Down(Reason(e, timeout));
        }
    }

    /// <inheritdoc />
    public async Task<ProbeResult> GetAsync(Uri url, TimeSpan timeout, CancellationToken ct = default)
    {
        using var client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = timeout, UseProxy = false }) { Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(url, ct).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            return status < 500
                ? ProbeResult.Up(body.Length is > 0 and < 200 ? body.Trim() : $"HTTP {status}")
                : ProbeResult.Down($"GET {url} answered {status}");
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
            var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
            options.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null)
                {
                    return false;
                }

                if (errors == SslPolicyErrors.None)
                {
                    return true;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                    && chain.Build(new X509Certificate2(certificate));
            };
        }

        handler.SslOptions = options;
    }
}
