using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pipeline.Provisioning.Swarm;

/// <summary>
/// A certificate authority kept in a folder (<c>ca.pem</c>, <c>ca-key.pem</c>) that issues server and client
/// certificates for the machine's own test hosts, with .NET's <see cref="CertificateRequest"/> (no openssl).
/// Keys are ECDSA P-256, written as PKCS#8 PEM readable by root only.
/// </summary>
public sealed class LocalCertificateAuthority : IDisposable
{
    /// <summary>The TLS web server authentication usage (1.3.6.1.5.5.7.3.1).</summary>
    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>The TLS web client authentication usage (1.3.6.1.5.5.7.3.2).</summary>
    public static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    private readonly TimeProvider _time;

    private LocalCertificateAuthority(X509Certificate2 certificate, string folder, TimeProvider time)
    {
        Certificate = certificate;
        Folder = folder;
        _time = time;
    }

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The folder holding <c>ca.pem</c> and <c>ca-key.pem</c>.</summary>
    public string Folder { get; }

    /// <summary>The CA certificate's path.</summary>
    public string CertificateFile => Path.Combine(Folder, "ca.pem");

    /// <summary>
    /// Loads the CA from <paramref name="folder"/>, or creates a new one there when it is missing, unreadable or
    /// valid for less than <paramref name="minimumRemaining"/>; <paramref name="created"/> says which happened.
    /// </summary>
    public static LocalCertificateAuthority LoadOrCreate(string folder, string name, TimeSpan validity, TimeSpan minimumRemaining, TimeProvider time, out bool created)
    {
        Directory.CreateDirectory(folder);
        var certFile = Path.Combine(folder, "ca.pem");
        var keyFile = Path.Combine(folder, "ca-key.pem");
        var now = time.GetUtcNow();
        if (TryLoad(certFile, keyFile) is { } existing)
        {
            if (existing.NotAfter.ToUniversalTime() - now.UtcDateTime >= minimumRemaining && existing.NotBefore.ToUniversalTime() <= now.UtcDateTime)
            {
                created = false;
                return new LocalCertificateAuthority(existing, folder, time);
            }

            existing.Dispose();
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using (var selfSigned = request.CreateSelfSigned(now.AddMinutes(-5), now.Add(validity)))
        {
            WriteKey(keyFile, key.ExportPkcs8PrivateKeyPem());
            WriteText(certFile, selfSigned.ExportCertificatePem());
        }

        created = true;
        return new LocalCertificateAuthority(
            TryLoad(certFile, keyFile) ?? throw new ProvisioningException($"The CA just written to {certFile} cannot be read back."), folder, time);
    }

    /// <summary>
    /// Issues a server certificate (serverAuth) naming <paramref name="dnsNames"/> and <paramref name="addresses"/>,
    /// written as <paramref name="certFile"/> and <paramref name="keyFile"/>.
    /// </summary>
    public void IssueServer(string commonName, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan validity, string certFile, string keyFile)
    {
        var names = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames)
        {
            names.AddDnsName(dns);
        }

        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        Issue(commonName, ServerAuth, X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, names.Build(), validity, certFile, keyFile);
    }

    /// <summary>Issues a client certificate (clientAuth) written as <paramref name="certFile"/> and <paramref name="keyFile"/>.</summary>
    public void IssueClient(string commonName, TimeSpan validity, string certFile, string keyFile) =>
        Issue(commonName, ClientAuth, X509KeyUsageFlags.DigitalSignature, null, validity, certFile, keyFile);

    /// <summary>
    /// Why the certificate in <paramref name="certFile"/> (with its key) cannot be kept, or null when it was signed by
    /// this CA, is valid for at least <paramref name="minimumRemaining"/> and names every one of <paramref name="dnsNames"/>
    /// and <paramref name="addresses"/>.
    /// </summary>
    public string? Unusable(string certFile, string keyFile, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan minimumRemaining)
    {
        using var certificate = TryLoad(certFile, keyFile);
        if (certificate is null)
        {
            return $"{certFile} or {keyFile} is missing or unreadable";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Certificate);
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        if (!chain.Build(certificate))
        {
            return $"{certFile} does not chain to {CertificateFile} ({string.Join(", ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))})";
        }

        if (certificate.NotAfter.ToUniversalTime() - _time.GetUtcNow().UtcDateTime < minimumRemaining)
        {
            return $"{certFile} expires on {certificate.NotAfter.ToUniversalTime():u}";
        }

        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        var named = san is null ? [] : san.EnumerateDnsNames().ToHashSet(StringComparer.OrdinalIgnoreCase);
        var ips = san is null ? [] : san.EnumerateIPAddresses().ToHashSet();
        var missing = dnsNames.Where(n => !named.Contains(n)).Concat(addresses.Where(a => !ips.Contains(a)).Select(a => a.ToString())).ToList();
        return missing.Count == 0 ? null : $"{certFile} does not name {string.Join(", ", missing)}";
    }

    /// <inheritdoc />
    public void Dispose() => Certificate.Dispose();

    private void Issue(string commonName, Oid usage, X509KeyUsageFlags keyUsage, X509Extension? alternativeNames, TimeSpan validity, string certFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        if (alternativeNames is not null)
        {
            request.CertificateExtensions.Add(alternativeNames);
        }

        var now = _time.GetUtcNow();
        var notAfter = now.Add(validity) < Certificate.NotAfter ? now.Add(validity) : new DateTimeOffset(Certificate.NotAfter.ToUniversalTime());
        using var issued = request.Create(Certificate, now.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(16));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(certFile))!);
        WriteKey(keyFile, key.ExportPkcs8PrivateKeyPem());
        WriteText(certFile, issued.ExportCertificatePem());
    }

    private static X509Certificate2? TryLoad(string certFile, string keyFile)
    {
        if (!File.Exists(certFile) || !File.Exists(keyFile))
        {
            return null;
        }

        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            return null;
        }
    }

    private static void WriteText(string path, string pem) => File.WriteAllText(path, pem + "\n");

    private static void WriteKey(string path, string pem)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(pem + "\n");
        }

        File.Move(temporary, path, overwrite: true);
    }
}
