using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pipeline.IntegrationTests.Docker;

/// <summary>
/// An in-process TLS front for the real engine's unix socket on a free loopback port: it presents the certificate
/// chain a test gives (leaf plus the intermediates it sends), demands a client certificate, and relays the bytes.
/// Lets a test give the engine certificates dockerd would refuse to start with (expired, wrong usage).
/// </summary>
internal sealed class TlsFront : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly SslStreamCertificateContext _chain;
    private readonly string _socket;
    private readonly Task _accepting;

    public TlsFront(X509Certificate2 leafWithKey, IReadOnlyList<X509Certificate2> intermediates, string engineSocket)
    {
        _chain = SslStreamCertificateContext.Create(leafWithKey, new X509Certificate2Collection(intermediates.ToArray()), offline: true);
        _socket = engineSocket;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(
                    new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = _chain,
                        ClientCertificateRequired = true,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null,
                    },
                    _stop.Token);
                using var engine = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await engine.ConnectAsync(new UnixDomainSocketEndPoint(_socket), _stop.Token);
                await using var upstream = new NetworkStream(engine, ownsSocket: false);
                await await Task.WhenAny(tls.CopyToAsync(upstream, _stop.Token), upstream.CopyToAsync(tls, _stop.Token));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
            {
            }
        }
    }
}

/// <summary>Certificates for TLS tests, made with CertificateRequest (ECDSA P-256).</summary>
internal static class TestCertificates
{
    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    public static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    public static X509Certificate2 Authority(string name, X509Certificate2? issuer = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        if (issuer is null)
        {
            return request.CreateSelfSigned(now.AddDays(-3), now.AddDays(2));
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var issued = request.Create(issuer, now.AddDays(-2), now.AddDays(1), RandomNumberGenerator.GetBytes(12));
        return issued.CopyWithPrivateKey(key);
    }

    public static X509Certificate2 Leaf(X509Certificate2 issuer, string name, Oid usage, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(issuer, notBefore ?? now.AddMinutes(-5), notAfter ?? now.AddDays(1), RandomNumberGenerator.GetBytes(12));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes ca.pem (every given CA, in order), cert.pem and key.pem into a new temporary folder.</summary>
    public static string Folder(IEnumerable<X509Certificate2> authorities, X509Certificate2 client)
    {
        var folder = Directory.CreateTempSubdirectory("pipeline-tls-chain-").FullName;
        File.WriteAllText(Path.Combine(folder, "ca.pem"), string.Concat(authorities.Select(a => a.ExportCertificatePem() + "\n")));
        File.WriteAllText(Path.Combine(folder, "cert.pem"), client.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(folder, "key.pem"), client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() + "\n");
        return folder;
    }
}
