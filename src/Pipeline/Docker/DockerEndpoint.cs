namespace Pipeline.Docker;

/// <summary>
/// Where a Docker engine listens, DOCKER_HOST-style: <c>unix:///var/run/docker.sock</c> or
/// <c>tcp://host:2376</c>, with TLS when <see cref="TlsVerify"/> (certificates from <see cref="CertPath"/>:
/// ca.pem, cert.pem, key.pem).
/// </summary>
public sealed record DockerEndpoint(Uri Host, bool TlsVerify = false, string? CertPath = null)
{
    /// <summary>The local engine's default socket.</summary>
    public static DockerEndpoint Local { get; } = new(new Uri("unix:///var/run/docker.sock"));

    /// <summary>The files a TLS endpoint needs in its certificate folder.</summary>
    public static IReadOnlyList<string> TlsFiles { get; } = ["ca.pem", "cert.pem", "key.pem"];

    /// <summary>The certificate folder used when none is given: <c>~/.docker</c>, as the docker CLI does.</summary>
    public static string DefaultCertPath => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");

    /// <inheritdoc />
    public override string ToString() => TlsVerify ? $"{Host} (TLS)" : Host.ToString();

    /// <summary>
    /// Reads <c>{prefix}DOCKER_HOST</c>, <c>{prefix}DOCKER_TLS_VERIFY</c> and <c>{prefix}DOCKER_CERT_PATH</c>
    /// (e.g. prefix <c>PRODUCTION_</c> for a second engine); without a host, <see cref="Local"/>.
    /// </summary>
    /// <param name="getVariable">Reads an environment variable (null when unset), e.g. <see cref="Environment.GetEnvironmentVariable(string)"/>.</param>
    /// <param name="prefix">Put in front of each variable name.</param>
    /// <remarks>Any non-empty <c>{prefix}DOCKER_TLS_VERIFY</c> turns TLS on (see <see cref="IsTlsVerifyOn"/>).</remarks>
    /// <exception cref="FormatException">A value is malformed; the message names the variable, the value and the fix.</exception>
    /// <exception cref="ArgumentException">TLS is asked for but cannot be used; the message names the fix.</exception>
    public static DockerEndpoint FromEnvironment(Func<string, string?> getVariable, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        var hostVariable = $"{prefix}DOCKER_HOST";
        var tlsVariable = $"{prefix}DOCKER_TLS_VERIFY";
        var certVariable = $"{prefix}DOCKER_CERT_PATH";
        var host = getVariable(hostVariable);
        var tls = IsTlsVerifyOn(getVariable(tlsVariable));
        var certPath = getVariable(certVariable) is { Length: > 0 } path ? path : null;
        if (string.IsNullOrWhiteSpace(host))
        {
            if (tls)
            {
                throw new ArgumentException($"{tlsVariable} is set but {hostVariable} is not: TLS needs a tcp:// engine. Set {hostVariable}=tcp://host:2376 or unset {tlsVariable}.");
            }

            return Local;
        }

        try
        {
            return Parse(host, tls, certPath);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{hostVariable}: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{hostVariable}/{tlsVariable}/{certVariable}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Parses a DOCKER_HOST value: <c>unix:///path/to/socket</c>, <c>tcp://host:port</c>, or
    /// <c>npipe:////./pipe/name</c> (accepted, for Windows engines). With <paramref name="tlsVerify"/> the host
    /// must be tcp and <paramref name="certPath"/> (default <c>~/.docker</c>) must hold ca.pem, cert.pem and key.pem.
    /// </summary>
    /// <exception cref="FormatException">The host is malformed; the message names it and shows a valid form.</exception>
    /// <exception cref="ArgumentException">TLS is asked for but cannot be used; the message names the fix.</exception>
    public static DockerEndpoint Parse(string host, bool tlsVerify = false, string? certPath = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        var text = host.Trim();
        const string Forms = "Use unix:///var/run/docker.sock or tcp://host:2376";
        if (text.Length == 0)
        {
            throw new FormatException($"The Docker host is empty. {Forms}.");
        }

        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            throw new FormatException($"'{text}' is not a Docker host: it has no scheme. {Forms}.");
        }

        var scheme = text[..schemeEnd].ToLowerInvariant();
        var rest = text[(schemeEnd + 3)..];
        Uri uri;
        switch (scheme)
        {
            case "unix":
                if (!rest.StartsWith('/') || rest.Length < 2 || rest.EndsWith('/'))
                {
                    throw new FormatException($"'{text}' is not a Docker host: a unix socket needs an absolute path, e.g. unix:///var/run/docker.sock.");
                }

                uri = new Uri("unix://" + rest);
                break;
            case "tcp":
                uri = ParseTcp(text, rest);
                break;
            case "npipe":
                uri = ParseNamedPipe(text, rest);
                break;
            default:
                throw new FormatException($"'{text}' is not a Docker host: scheme '{scheme}' is not supported (only unix://, tcp:// and npipe://). {Forms}.");
        }

        if (!tlsVerify)
        {
            return new DockerEndpoint(uri);
        }

        if (scheme != "tcp")
        {
            throw new ArgumentException($"TLS was asked for with '{text}', but TLS works only with tcp:// hosts. Use tcp://host:2376 or unset DOCKER_TLS_VERIFY.");
        }

        var folder = Path.GetFullPath(string.IsNullOrWhiteSpace(certPath) ? DefaultCertPath : certPath);
        var missing = TlsFiles.Where(f => !File.Exists(Path.Combine(folder, f))).ToList();
        if (missing.Count > 0)
        {
            throw new ArgumentException(
                $"TLS to '{text}' needs ca.pem, cert.pem and key.pem in '{folder}', but {string.Join(", ", missing)} {(missing.Count == 1 ? "is" : "are")} missing. Set DOCKER_CERT_PATH to the folder that holds them.");
        }

        return new DockerEndpoint(uri, true, folder);
    }

    private static Uri ParseTcp(string text, string rest)
    {
        var authority = rest.TrimEnd('/');
        if (authority.Contains('/') || authority.Length == 0)
        {
            throw new FormatException($"'{text}' is not a Docker host: tcp:// takes host:port only, e.g. tcp://10.0.0.5:2376.");
        }

        var colon = authority.LastIndexOf(':');
        var bracket = authority.LastIndexOf(']');
        if (colon < 0 || colon < bracket)
        {
            throw new FormatException($"'{text}' is not a Docker host: tcp:// needs a host and a port, e.g. tcp://{authority}:2376.");
        }

        if (colon == 0)
        {
            throw new FormatException($"'{text}' is not a Docker host: tcp:// needs a host before the port, e.g. tcp://127.0.0.1{authority}.");
        }

        var portText = authority[(colon + 1)..];
        if (!int.TryParse(portText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new FormatException($"'{text}' is not a Docker host: port '{portText}' must be a number from 1 to 65535, e.g. tcp://{authority[..colon]}:2376.");
        }

        if (!Uri.TryCreate($"tcp://{authority}", UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new FormatException($"'{text}' is not a Docker host: '{authority[..colon]}' is not a host name or address.");
        }

        return uri;
    }

    /// <summary><c>npipe:////./pipe/docker_engine</c> (docker's form) or <c>npipe://./pipe/docker_engine</c>.</summary>
    private static Uri ParseNamedPipe(string text, string rest)
    {
        var path = rest.StartsWith("//", StringComparison.Ordinal) ? rest[2..] : rest;
        var parts = path.Split('/');
        if (parts.Length != 3 || parts[0].Length == 0 || !parts[1].Equals("pipe", StringComparison.OrdinalIgnoreCase) || parts[2].Length == 0
            || !Uri.TryCreate($"npipe://{parts[0]}/pipe/{parts[2]}", UriKind.Absolute, out var uri))
        {
            throw new FormatException($"'{text}' is not a Docker host: a named pipe looks like npipe:////./pipe/docker_engine.");
        }

        return uri;
    }

    /// <summary>
    /// What a DOCKER_TLS_VERIFY value means, as to the docker CLI: any non-empty value (even <c>0</c> or
    /// <c>false</c>) turns TLS with verification on; only an unset or empty variable leaves it off.
    /// </summary>
    public static bool IsTlsVerifyOn(string? value) => !string.IsNullOrEmpty(value);
}
