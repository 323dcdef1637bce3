namespace Pipeline.Proxy;

/// <summary>One release endpoint behind the proxy.</summary>
public sealed record UpstreamEndpoint(string Address, int Port);

/// <summary>
/// How the proxy routes one service: requests whose path starts with <see cref="PathPrefix"/> (and, when set,
/// whose Host is <see cref="HostName"/>) go to <see cref="Upstreams"/>. Every answer carries the response header
/// <c>X-Pipeline-Color: {Color}</c> (and <c>X-Pipeline-Service</c>, <c>X-Pipeline-Version</c>), so a switch
/// can be confirmed through the proxy.
/// </summary>
public sealed record ProxyRoute(
    string Service,
    string PathPrefix,
    string? HostName,
    string Color,
    string Version,
    IReadOnlyList<UpstreamEndpoint> Upstreams);

/// <summary>
/// A reverse proxy that runs as a container on the production engine and is reconfigured only through the
/// engine's API (archive upload + exec). Config text is rendered from routes with a template the user can
/// override, checked with the proxy's own validator, then applied without dropping requests where the proxy allows.
/// </summary>
public interface IProxy
{
    /// <summary>Which proxy this is.</summary>
    ProxyKind Kind { get; }

    /// <summary>The URL clients (and post-integration tests run on the host) reach the proxy at, e.g. http://127.0.0.1:8080/.</summary>
    Uri PublicUrl { get; }

    /// <summary>Starts the proxy container when it is not running (labelled, on the pipeline network); returns its container id.</summary>
    Task<string> EnsureRunningAsync(CancellationToken ct = default);

    /// <summary>The proxy container, or null when it does not exist.</summary>
    Task<string?> FindContainerAsync(CancellationToken ct = default);

    /// <summary>Renders the config for all routes (empty list: a config that answers 503 for everything).</summary>
    string Render(IReadOnlyList<ProxyRoute> routes);

    /// <summary>The config the proxy runs now, or null when it has none yet.</summary>
    Task<string?> ReadLiveConfigAsync(CancellationToken ct = default);

    /// <summary>Checks a config with the proxy's own validator inside the proxy container; throws <see cref="ProxyConfigRejectedException"/>.</summary>
    Task ValidateAsync(string config, CancellationToken ct = default);

    /// <summary>Validates, installs and activates a config (reload or runtime API); throws when the proxy rejects it, leaving the live config untouched.</summary>
    Task ApplyAsync(string config, CancellationToken ct = default);
}

/// <summary>The proxy's validator rejected a config; carries its output.</summary>
public sealed class ProxyConfigRejectedException(string proxyKind, string validatorOutput)
    : Exception($"{proxyKind} rejected the rendered config:\n{Indent.Text(validatorOutput, "")}")
{
    /// <summary>What the validator printed.</summary>
    public string ValidatorOutput { get; } = validatorOutput;
}
