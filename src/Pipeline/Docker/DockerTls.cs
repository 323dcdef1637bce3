using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Pipeline.Docker;

/// <summary>The client certificate and the CA of a TLS-protected engine, loaded from ca.pem, cert.pem and key.pem.</summary>
internal sealed class DockerTls
{
    private readonly X509Certificate2 _authority;

    private DockerTls(X509Certificate2 client, X509Certificate2 authority)
    {
        Client = client;
        _authority = authority;
    }

    /// <summary>The client certificate with its private key.</summary>
    public X509Certificate2 Client { get; }

    /// <summary>Loads the three PEM files from <paramref name="certPath"/>.</summary>
    /// <exception cref="ArgumentException">A file is missing or not a PEM certificate/key; the message names it.</exception>
    public static DockerTls Load(string certPath)
    {
        var missing = DockerEndpoint.TlsFiles.Where(f => !File.Exists(Path.Combine(certPath, f))).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException(
                $"TLS to the Docker engine needs ca.pem, cert.pem and key.pem in '{certPath}', but {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing. Set DOCKER_CERT_PATH to the folder that holds them.");
        }

        try
        {
            var client = X509Certificate2.CreateFromPemFile(Path.Combine(certPath, "cert.pem"), Path.Combine(certPath, "key.pem"));
            var authority = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(certPath, "ca.pem"));
            return new DockerTls(client, authority);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new ArgumentException($"Could not load the TLS certificates for the Docker engine from '{certPath}' (cert.pem + key.pem, ca.pem): {e.Message}", e);
        }
    }

    /// <summary>Accepts the engine's certificate when its name matches and it chains to our CA (not the system roots).</summary>
    public bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(_authority);
        if (certificate is X509Certificate2 given)
        {
            return custom.Build(given);
        }

        using var loaded = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(loaded);
    }
}
