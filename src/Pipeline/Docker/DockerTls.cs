using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pipeline.Docker;

/// <summary>
/// The client certificate and the CAs of a TLS-protected engine, loaded from ca.pem, cert.pem and key.pem, and the
/// check of the engine's certificate the docker CLI makes: it chains (through the intermediates the engine sends or
/// ca.pem holds) to a certificate in ca.pem, it is valid now, it is for server authentication, and it names the host
/// we connected to. When the check fails, <see cref="LastRejection"/> says why and what to do.
/// </summary>
internal sealed class DockerTls
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");
    private readonly X509Certificate2Collection _authorities;
    private readonly string _caFile;
    private readonly string _host;
    private readonly TimeProvider _time;
    private volatile TlsRejection? _lastRejection;
    private volatile bool _accepted;

    private DockerTls(X509Certificate2 client, X509Certificate2Collection authorities, string caFile, string host, TimeProvider time)
    {
        Client = client;
        _authorities = authorities;
        _caFile = caFile;
        _host = host;
        _time = time;
    }

    /// <summary>The client certificate with its private key.</summary>
    public X509Certificate2 Client { get; }

    /// <summary>Why the last engine certificate was refused, and the fix; null when none was.</summary>
    public TlsRejection? LastRejection => _lastRejection;

    /// <summary>True once an engine certificate passed the check (the handshake got as far as our side accepting the engine).</summary>
    public bool AcceptedAServer => _accepted;

    /// <summary>Loads the three PEM files from <paramref name="certPath"/>; every certificate in ca.pem is trusted.</summary>
    /// <param name="certPath">The folder holding ca.pem, cert.pem and key.pem.</param>
    /// <param name="host">The engine's host name or address as the endpoint names it (the certificate must name it).</param>
    /// <param name="time">The clock certificates are checked against; the system clock by default.</param>
    /// <exception cref="ArgumentException">A file is missing or not a PEM certificate/key; the message names it.</exception>
    public static DockerTls Load(string certPath, string host, TimeProvider? time = null)
    {
        var missing = DockerEndpoint.TlsFiles.Where(f => !File.Exists(Path.Combine(certPath, f))).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException(
                $"TLS to the Docker engine needs ca.pem, cert.pem and key.pem in '{certPath}', but {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing. Set DOCKER_CERT_PATH to the folder that holds them.");
        }

        var caFile = Path.Combine(certPath, "ca.pem");
        X509Certificate2 client;
        var authorities = new X509Certificate2Collection();
        try
        {
            client = X509Certificate2.CreateFromPemFile(Path.Combine(certPath, "cert.pem"), Path.Combine(certPath, "key.pem"));
            authorities.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new ArgumentException($"Could not load the TLS certificates for the Docker engine from '{certPath}' (cert.pem + key.pem, ca.pem): {e.Message}", e);
        }

        if (authorities.Count == 0)
        {
            throw new ArgumentException($"{caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----); put the CA that signed the engine's certificate there.");
        }

        return new DockerTls(client, authorities, caFile, host, time ?? TimeProvider.System);
    }

    /// <summary>Accepts the engine's certificate when it chains to a CA in ca.pem (not the system roots), is valid now, is for server authentication and names the host.</summary>
    public bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var rejection = Judge(certificate, chain, errors);
        if (rejection is not null)
        {
            _lastRejection = rejection;
        }
        else
        {
            _accepted = true;
        }

        return rejection is null;
    }

    private TlsRejection? Judge(X509Certificate? certificate, X509Chain? sent, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return new TlsRejection("the engine sent no certificate", "Start dockerd with --tlsverify --tlscert and --tlskey.");
        }

        using var given = certificate as X509Certificate2 is { } typed ? X509CertificateLoader.LoadCertificate(typed.RawData) : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var custom = new X509Chain();
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        custom.ChainPolicy.ExtraStore.AddRange(_authorities);
        if (sent is not null)
        {
            // The intermediates the engine sent in its handshake.
            custom.ChainPolicy.ExtraStore.AddRange(sent.ChainPolicy.ExtraStore);
        }

        custom.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
        custom.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        custom.ChainPolicy.VerificationTimeIgnored = false;
        var subject = Describe(given);
        if (!custom.Build(given))
        {
            var status = custom.ChainStatus.Select(s => s.Status).Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s);
            var at = custom.ChainPolicy.VerificationTime.ToString("u", System.Globalization.CultureInfo.InvariantCulture);
            if (status.HasFlag(X509ChainStatusFlags.NotTimeValid))
            {
                var expired = custom.ChainElements.Select(e => e.Certificate).FirstOrDefault(c => c.NotAfter.ToUniversalTime() < custom.ChainPolicy.VerificationTime || c.NotBefore.ToUniversalTime() > custom.ChainPolicy.VerificationTime) ?? given;
                var when = expired.NotAfter.ToUniversalTime() < custom.ChainPolicy.VerificationTime
                    ? $"expired on {expired.NotAfter.ToUniversalTime():u}"
                    : $"is not valid before {expired.NotBefore.ToUniversalTime():u}";
                return new TlsRejection(
                    $"the engine's certificate {(ReferenceEquals(expired, given) || expired.Thumbprint == given.Thumbprint ? subject : $"chain ({Describe(expired)})")} {when} (checked at {at})",
                    "Renew the engine's certificate (and restart dockerd with it).");
            }

            if (status.HasFlag(X509ChainStatusFlags.NotValidForUsage))
            {
                return new TlsRejection(
                    $"the engine's certificate {subject} is not for server authentication (its extended key usage lacks serverAuth)",
                    "Reissue the engine's certificate with extendedKeyUsage = serverAuth.");
            }

            if (status.HasFlag(X509ChainStatusFlags.UntrustedRoot) || status.HasFlag(X509ChainStatusFlags.PartialChain))
            {
                return new TlsRejection(
                    $"the engine's certificate {subject} does not chain to a CA in {_caFile} ({string.Join("; ", _authorities.Select(a => a.Subject))})",
                    $"Put the CA that signed the engine's certificate into {_caFile} (DOCKER_CERT_PATH), or point DOCKER_CERT_PATH at the folder made for this engine.");
            }

            return new TlsRejection(
                $"the engine's certificate {subject} failed the check against {_caFile}: {string.Join("; ", custom.ChainStatus.Select(s => s.StatusInformation.Trim()))}",
                $"Check the engine's certificate and {_caFile}.");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || !Names(given, _host))
        {
            return new TlsRejection(
                $"the engine's certificate {subject} is for {string.Join(", ", NamesIn(given).DefaultIfEmpty("no name"))}, not {_host}",
                "Connect with a name or address the certificate lists (DOCKER_HOST), or reissue the engine's certificate for this one.");
        }

        return null;
    }

    private static bool Names(X509Certificate2 certificate, string host)
    {
        var bare = host.Trim('[', ']');
        if (IPAddress.TryParse(bare, out var address))
        {
            return certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(s => s.EnumerateIPAddresses()).Any(a => a.Equals(address));
        }

        return certificate.MatchesHostname(bare, allowWildcards: true, allowCommonName: false);
    }

    private static IEnumerable<string> NamesIn(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(s => s.EnumerateDnsNames().Concat(s.EnumerateIPAddresses().Select(a => a.ToString())));

    private static string Describe(X509Certificate2 certificate) => $"({certificate.Subject}, issued by {certificate.Issuer})";
}

/// <summary>Why an engine's certificate was refused, and what to do about it.</summary>
/// <param name="Reason">What is wrong, naming the certificate.</param>
/// <param name="Fix">What to change.</param>
internal sealed record TlsRejection(string Reason, string Fix);
