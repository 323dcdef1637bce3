using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Pipeline.Configuration;
using Pipeline.Docker;

namespace Pipeline.Preflight;

/// <summary>
/// How the preflight talks to an image registry, by Docker's rules: HTTPS with a certificate that verifies (against
/// the system's CAs, <c>--image-registry-ca</c> and <c>/etc/docker/certs.d/{registry}/*.crt</c>); plain HTTP only for a
/// registry on loopback or listed with <c>--insecure-registry</c> (which also skips certificate checks). A certificate
/// that is rejected is never a reason to try plain HTTP. Credentials go to a token service (the <c>realm</c> of a
/// Bearer challenge) only over HTTPS, unless it is on loopback or listed as insecure.
/// </summary>
internal sealed class ImageRegistryTransport : IDisposable
{
    /// <summary>Where Docker looks for a registry's CA certificates: <c>{folder}/{host:port}/*.crt</c>.</summary>
    internal const string DockerCertsFolder = "/etc/docker/certs.d";

    private readonly string _registry;
    private readonly bool _insecure;
    private readonly IReadOnlyList<string> _insecureRegistries;
    private readonly X509Certificate2Collection _authorities;
    private readonly HttpClient _http;
    private string? _certificateProblem;

    /// <param name="registry">The registry as <c>host[:port]</c>.</param>
    /// <param name="options">Insecure registries and the extra CA file.</param>
    /// <param name="timeout">How long one request may take.</param>
    /// <param name="certsFolder">Docker's certs.d folder (tests point it elsewhere).</param>
    /// <exception cref="ImageRegistryTransportException">The CA file cannot be read as PEM certificates.</exception>
    public ImageRegistryTransport(string registry, DeploymentOptions options, TimeSpan timeout, string certsFolder = DockerCertsFolder)
    {
        _registry = registry;
        _insecureRegistries = options.InsecureRegistries;
        _insecure = options.InsecureRegistries.Contains(registry, StringComparer.OrdinalIgnoreCase);
        _authorities = LoadAuthorities(options.ImageRegistryCa, Path.Combine(certsFolder, registry));
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = timeout,
            UseProxy = false,
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ValidateCertificate },
        };
        _http = new HttpClient(handler) { Timeout = timeout };
    }

    /// <summary>
    /// Sends <paramref name="method"/> <paramref name="path"/> over HTTPS, or over plain HTTP when the registry does not
    /// speak TLS and plain HTTP is allowed for it. Returns the answer and the URL that gave it.
    /// </summary>
    /// <exception cref="ImageRegistryTransportException">The certificate was rejected, or the registry speaks only plain HTTP and is neither on loopback nor listed as insecure.</exception>
    /// <exception cref="HttpRequestException">The registry cannot be reached.</exception>
    public Task<(HttpResponseMessage Response, Uri Url)> SendAsync(
        HttpMethod method, string path, RegistryCredentials? credentials, string[]? accept, CancellationToken ct) =>
        SendAsync(method, path, Basic(credentials), accept, ct);

    /// <summary>As <see cref="SendAsync(HttpMethod, string, RegistryCredentials?, string[], CancellationToken)"/>, with an Authorization header of any scheme (a Bearer token).</summary>
    public async Task<(HttpResponseMessage Response, Uri Url)> SendAsync(
        HttpMethod method, string path, AuthenticationHeaderValue? authorization, string[]? accept, CancellationToken ct)
    {
        var https = new Uri($"https://{_registry}{path}");
        try
        {
            return (await SendAsync(method, https, authorization, accept, ct).ConfigureAwait(false), https);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            if (Interlocked.Exchange(ref _certificateProblem, null) is { } problem)
            {
                throw new ImageRegistryTransportException(
                    $"the TLS certificate of {_registry} was rejected: {problem}. Nothing was sent over plain HTTP. Give its CA with --image-registry-ca=PATH " +
                    $"(or in {DockerCertsFolder}/{_registry}/ca.crt), or, if you accept the risk, --insecure-registry={_registry}", e);
            }

            if (!_insecure && !OptionResolver.IsLoopback(HostOf(_registry)))
            {
                throw new ImageRegistryTransportException(
                    $"{_registry} does not speak TLS ({Innermost(e)}); credentials and images go to a registry that is not on loopback only over TLS: serve it with a certificate, or, if you accept the risk, --insecure-registry={_registry}", e);
            }
        }

        var plain = new Uri($"http://{_registry}{path}");
        return (await SendAsync(method, plain, authorization, accept, ct).ConfigureAwait(false), plain);
    }

    /// <summary>Asks the token service <paramref name="realm"/> for a token with the credentials.</summary>
    /// <exception cref="ImageRegistryTransportException">The realm is plain HTTP off loopback, or its certificate was rejected.</exception>
    public async Task<HttpResponseMessage> SendToRealmAsync(Uri realm, RegistryCredentials credentials, CancellationToken ct)
    {
        var insecureRealm = _insecureRegistries.Contains(realm.Authority, StringComparer.OrdinalIgnoreCase);
        if (realm.Scheme != Uri.UriSchemeHttps && !(realm.Scheme == Uri.UriSchemeHttp && (OptionResolver.IsLoopback(realm.Host) || insecureRealm)))
        {
            throw new ImageRegistryTransportException(
                $"the registry sends clients to the token service {realm.GetLeftPart(UriPartial.Path)}, which is not HTTPS; the credentials were not sent there. Serve the token service over https:// (or list {realm.Authority} with --insecure-registry if you accept the risk)");
        }

        try
        {
            return await SendAsync(HttpMethod.Get, realm, Basic(credentials), null, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (Interlocked.Exchange(ref _certificateProblem, null) is { } problem)
        {
            throw new ImageRegistryTransportException(
                $"the TLS certificate of its token service {realm.Authority} was rejected: {problem}; the credentials were not sent. Give its CA with --image-registry-ca=PATH", e);
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        foreach (var authority in _authorities)
        {
            authority.Dispose();
        }
    }

    private static AuthenticationHeaderValue? Basic(RegistryCredentials? credentials) =>
        credentials is null
            ? null
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.Username}:{credentials.Password}")));

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, AuthenticationHeaderValue? authorization, string[]? accept, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = authorization;

        foreach (var type in accept ?? [])
        {
            request.Headers.Accept.ParseAdd(type);
        }

        return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
    }

    private bool ValidateCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        // Docker skips certificate checks for registries listed as insecure; the TLS layer knows the host, not the port.
        var host = (sender as SslStream)?.TargetHostName ?? string.Empty;
        if (errors == SslPolicyErrors.None || _insecureRegistries.Any(r => HostOf(r).Equals(host, StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }

        if (certificate is null)
        {
            _certificateProblem = "the server sent no certificate";
            return false;
        }

        using var given = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var problems = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            problems.Add($"it is not valid for the name {host} (it names {Names(given)})");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            using var custom = new X509Chain();
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(_authorities);
            custom.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1")); // serverAuth
            if (chain is not null)
            {
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            var trusted = _authorities.Count > 0 && custom.Build(given);
            if (!trusted)
            {
                problems.Add(DescribeChain(given, _authorities.Count > 0 ? custom : chain));
            }
        }

        if (problems.Count == 0)
        {
            return true;
        }

        _certificateProblem = string.Join("; ", problems);
        return false;
    }

    private static string DescribeChain(X509Certificate2 certificate, X509Chain? chain)
    {
        var statuses = (chain?.ChainStatus ?? []).Select(s => s.Status).Where(s => s != X509ChainStatusFlags.NoError).Distinct().ToList();
        var reasons = statuses.Select(status => status switch
        {
            X509ChainStatusFlags.NotTimeValid => $"it is outside its validity period ({certificate.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z to {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z)",
            X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain => certificate.Subject == certificate.Issuer
                ? $"it is self-signed ({certificate.Subject}) and not trusted here"
                : $"it chains to a CA that is not trusted here (issuer {certificate.Issuer})",
            X509ChainStatusFlags.NotValidForUsage => "it is not meant for TLS servers (no serverAuth usage)",
            _ => status.ToString(),
        }).Distinct().ToList();
        return reasons.Count == 0 ? "its chain does not verify" : string.Join("; ", reasons);
    }

    private static string Names(X509Certificate2 certificate)
    {
        var dns = certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false);
        var alternative = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(e => e.EnumerateDnsNames().Concat(e.EnumerateIPAddresses().Select(ip => ip.ToString())))
            .ToList();
        return alternative.Count > 0 ? string.Join(", ", alternative) : dns;
    }

    private static X509Certificate2Collection LoadAuthorities(string? caFile, string dockerFolder)
    {
        var authorities = new X509Certificate2Collection();
        var files = (caFile is null ? [] : new[] { caFile })
            .Concat(Directory.Exists(dockerFolder) ? Directory.GetFiles(dockerFolder, "*.crt") : []);
        foreach (var file in files)
        {
            try
            {
                authorities.ImportFromPemFile(file);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new ImageRegistryTransportException($"cannot read CA certificates from {file} ({e.Message.TrimEnd('.')}); it must hold PEM certificates", e);
            }
        }

        return authorities;
    }

    /// <summary><c>host</c> of <c>host:port</c> (an IPv6 address keeps its brackets off).</summary>
    private static string HostOf(string registry) =>
        Uri.TryCreate($"https://{registry}/", UriKind.Absolute, out var uri) ? uri.Host.Trim('[', ']') : registry;

    private static string Innermost(Exception e) => e.GetBaseException().Message.TrimEnd('.');
}

/// <summary>The image registry cannot be spoken to safely; the message says why and what to do.</summary>
public sealed class ImageRegistryTransportException(string message, Exception? inner = null) : Exception(message, inner);
