using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pipeline.Proxy;

/// <summary>
/// The certificate (with its chain) and private key the proxy terminates TLS with, as PEM text, checked when loaded: the
/// key matches the certificate, and the certificate is valid now. <see cref="CaPem"/> is what a client must trust to
/// accept it (post-integration tests get it).
/// </summary>
public sealed class ProxyCertificate
{
    private ProxyCertificate(string certificatePem, string keyPem, string caPem, string subject, DateTimeOffset notAfter, string thumbprint, string source)
    {
        CertificatePem = certificatePem;
        KeyPem = keyPem;
        CaPem = caPem;
        Subject = subject;
        NotAfter = notAfter;
        Thumbprint = thumbprint;
        Source = source;
    }

    /// <summary>The server certificate followed by any intermediates, PEM.</summary>
    public string CertificatePem { get; }

    /// <summary>The private key, PEM (PKCS#8, PKCS#1 or SEC1).</summary>
    public string KeyPem { get; }

    /// <summary>The certificate a client trusts to accept this one: the last of the chain (for a generated one, its own CA).</summary>
    public string CaPem { get; }

    /// <summary>The server certificate's subject, for messages.</summary>
    public string Subject { get; }

    /// <summary>When the server certificate expires.</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>The server certificate's SHA-256 thumbprint (hex), to tell one certificate from another.</summary>
    public string Thumbprint { get; }

    /// <summary>Where it came from (the two files, or "generated for …"), for messages.</summary>
    public string Source { get; }

    /// <summary>
    /// Loads a PEM certificate (chain) and its PEM private key; throws <see cref="ProxyCertificateException"/> naming the file
    /// when one cannot be read or parsed, when the key does not belong to the certificate, or when the certificate is
    /// expired or not valid yet.
    /// </summary>
    public static ProxyCertificate Load(string certificatePath, string keyPath, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(certificatePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPath);
        var certificatePem = Read(certificatePath, "certificate");
        var keyPem = Read(keyPath, "private key");
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(certificatePem);
        }
        catch (CryptographicException e)
        {
            throw new ProxyCertificateException($"The TLS certificate {certificatePath} is not a PEM certificate ({e.Message}); give a file with -----BEGIN CERTIFICATE-----.", e);
        }

        if (chain.Count == 0)
        {
            throw new ProxyCertificateException($"The TLS certificate {certificatePath} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        X509Certificate2 server;
        try
        {
            server = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new ProxyCertificateException(
                $"The private key {keyPath} does not belong to the TLS certificate {certificatePath} ({chain[0].Subject}), or is not a PEM private key: {e.Message}", e);
        }

        using (server)
        {
            var now = (time ?? TimeProvider.System).GetUtcNow();
            if (server.NotAfter.ToUniversalTime() <= now.UtcDateTime)
            {
                throw new ProxyCertificateException($"The TLS certificate {certificatePath} ({server.Subject}) expired on {server.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC; give a current one.");
            }

            if (server.NotBefore.ToUniversalTime() > now.UtcDateTime)
            {
                throw new ProxyCertificateException($"The TLS certificate {certificatePath} ({server.Subject}) is not valid before {server.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm} UTC.");
            }

            return new ProxyCertificate(
                Normalize(certificatePem),
                Normalize(keyPem),
                chain[^1].ExportCertificatePem() + "\n",
                server.Subject,
                new DateTimeOffset(server.NotAfter.ToUniversalTime(), TimeSpan.Zero),
                server.GetCertHashString(HashAlgorithmName.SHA256),
                $"{certificatePath} with key {keyPath}");
        }
    }

    /// <summary>
    /// Generates a certificate for local use: a new CA (the one to trust) and a server certificate it signs for
    /// <paramref name="hostNames"/> (DNS names or IP addresses), ECDSA P-256, valid for <paramref name="validity"/>.
    /// </summary>
    public static ProxyCertificate CreateSelfSigned(IReadOnlyList<string> hostNames, TimeSpan validity, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(hostNames);
        if (hostNames.Count == 0)
        {
            throw new ArgumentException("A generated certificate needs at least one host name or address.", nameof(hostNames));
        }

        var now = (time ?? TimeProvider.System).GetUtcNow();
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest(new X500DistinguishedName("CN=Pipeline local proxy CA"), caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now + validity);

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest(new X500DistinguishedName($"CN={hostNames[0]}"), serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in hostNames)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                names.AddIpAddress(address);
            }
            else
            {
                names.AddDnsName(name);
            }
        }

        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var server = serverRequest.Create(ca, now.AddMinutes(-5), now + validity - TimeSpan.FromMinutes(1), serial);
        return new ProxyCertificate(
            server.ExportCertificatePem() + "\n" + ca.ExportCertificatePem() + "\n",
            serverKey.ExportPkcs8PrivateKeyPem() + "\n",
            ca.ExportCertificatePem() + "\n",
            server.Subject,
            new DateTimeOffset(server.NotAfter.ToUniversalTime(), TimeSpan.Zero),
            server.GetCertHashString(HashAlgorithmName.SHA256),
            $"generated for {string.Join(", ", hostNames)}");
    }

    private static string Read(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProxyCertificateException($"The TLS {what} {path} cannot be read: {e.Message}", e);
        }
    }

    private static string Normalize(string pem) => pem.ReplaceLineEndings("\n").Trim() + "\n";
}

/// <summary>A TLS certificate or key cannot be used; the message names the file and what is wrong with it.</summary>
public sealed class ProxyCertificateException(string message, Exception? inner = null) : Exception(message, inner);
