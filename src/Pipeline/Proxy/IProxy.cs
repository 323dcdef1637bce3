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
    IReadOnlyList<UpstreamEndpoint> Upstreams)
{
    /// <summary>
    /// The service's other registered release (the colour that is not live), or null. The proxy keeps it as a
    /// disabled member of the route, so making it live — or going back to it — is a runtime change, not a reload.
    /// </summary>
    public StandbyRelease? Standby { get; init; }
}

/// <summary>A release of a route's service that is registered but not live.</summary>
public sealed record StandbyRelease(string Color, string Version, IReadOnlyList<UpstreamEndpoint> Upstreams);

/// <summary>What <see cref="IProxy.ApplyAsync(string, CancellationToken)"/> had to do.</summary>
public enum ProxyChange
{
    /// <summary>The proxy already ran this config; nothing was changed.</summary>
    None,

    /// <summary>Only where routes send traffic changed: done through the proxy's runtime interface (no reload), and the file on disk updated to agree.</summary>
    Runtime,

    /// <summary>The set of routes (or the template) changed: the config was validated, installed and reloaded seamlessly.</summary>
    Reload,
}

/// <summary>
/// A reverse proxy that runs as a container on the production engine and is reconfigured only through the
/// engine's API (archive upload, exec, and one exec session to its runtime interface that stays open until disposed). Config text is rendered from routes with a template the user can
/// override, checked with the proxy's own validator, then applied without dropping requests where the proxy allows.
/// </summary>
public interface IProxy : IAsyncDisposable, IDisposable
{
    /// <summary>Which proxy this is.</summary>
    ProxyKind Kind { get; }

    /// <summary>The URL clients (and post-integration tests run on the host) reach the proxy at, e.g. http://127.0.0.1:8080/.</summary>
    Uri PublicUrl { get; }

    /// <summary>The HTTPS URL clients reach the proxy at, e.g. https://127.0.0.1:8443/, or null when it does not terminate TLS.</summary>
    Uri? PublicHttpsUrl { get; }

    /// <summary>Starts the proxy container when it is not running (labelled, on the pipeline network); returns its container id.</summary>
    Task<string> EnsureRunningAsync(CancellationToken ct = default);

    /// <summary>
    /// <see cref="EnsureRunningAsync(CancellationToken)"/>, calling <paramref name="beforeCreate"/> first when the container
    /// does not exist yet (to record its undo before it is created).
    /// </summary>
    Task<string> EnsureRunningAsync(Func<CancellationToken, Task>? beforeCreate, CancellationToken ct = default);

    /// <summary>Opens the session to the proxy's runtime interface ahead of a change, when the proxy runs; does nothing otherwise.</summary>
    Task PrepareAsync(CancellationToken ct = default);

    /// <summary>The proxy container, or null when it does not exist.</summary>
    Task<string?> FindContainerAsync(CancellationToken ct = default);

    /// <summary>Renders the config for all routes (empty list: a config that answers 503 for everything).</summary>
    string Render(IReadOnlyList<ProxyRoute> routes);

    /// <summary>The config the proxy runs now, or null when it has none yet.</summary>
    Task<string?> ReadLiveConfigAsync(CancellationToken ct = default);

    /// <summary>Checks a config with the proxy's own validator inside the proxy container; throws <see cref="ProxyConfigRejectedException"/>.</summary>
    Task ValidateAsync(string config, CancellationToken ct = default);

    /// <summary>
    /// Makes the proxy run <paramref name="config"/> (text from <see cref="Render"/>) and the file on disk say so. When only
    /// where routes send traffic differs from what runs (a colour switch, a new address, a version), the change is made through
    /// the proxy's runtime interface over one session, then the file is written; otherwise the config is validated, installed
    /// and reloaded seamlessly. Nothing is done when the proxy already runs it. Throws when the proxy rejects a config,
    /// leaving the live one untouched. The live config is the one last read by <see cref="ReadLiveConfigAsync"/> or applied here
    /// (read it again after another process may have changed the proxy, e.g. under the proxy lock).
    /// </summary>
    Task<ProxyChange> ApplyAsync(string config, CancellationToken ct = default);

    /// <summary>
    /// <see cref="ApplyAsync(string, CancellationToken)"/>, calling <paramref name="changed"/> as soon as the proxy answers the
    /// new way: after the runtime change (before the file is written), or once the reloaded config serves; not called when
    /// nothing changed or the change failed.
    /// </summary>
    Task<ProxyChange> ApplyAsync(string config, Action<ProxyChange>? changed, CancellationToken ct = default);

    /// <summary>
    /// Requests the proxy is handling now for one colour of a service (sent to it or waiting for it), in every process of the
    /// proxy (HAProxy: current and queued sessions of the colour's servers, old workers included; nginx: the Lua counter).
    /// </summary>
    Task<int> InFlightAsync(string service, string color, CancellationToken ct = default);

    /// <summary>
    /// Makes the proxy terminate TLS with the configured certificate when it uses another one: new connections get the new
    /// certificate, connections already open keep theirs, nothing is reloaded and no request is dropped.
    /// </summary>
    Task<ProxyChange> InstallCertificateAsync(CancellationToken ct = default);

    /// <summary>
    /// The certificate a client must trust to accept the proxy's (PEM: the last of the chain it serves, the generated CA
    /// when it made its own), or null when it does not terminate TLS.
    /// </summary>
    Task<string?> CertificateAuthorityAsync(CancellationToken ct = default);
}

/// <summary>The proxy's validator rejected a config; carries its output.</summary>
public sealed class ProxyConfigRejectedException(string proxyKind, string validatorOutput)
    : Exception($"{proxyKind} rejected the rendered config:\n{Indent.Text(validatorOutput, "")}")
{
    /// <summary>What the validator printed.</summary>
    public string ValidatorOutput { get; } = validatorOutput;
}
