using System.Net;
using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>
/// Where and how the proxy container runs on the production engine. Validate with <see cref="Validate"/>
/// (the proxies and <see cref="ProxyFactory"/> do it for you). A deploy derives them from its options
/// (<see cref="Configuration.DeploymentOptions.ToProxyOptions"/>); the defaults here are the deploy's defaults too.
/// </summary>
public sealed partial record ProxyOptions
{
    /// <summary>The port the proxy listens on inside its container.</summary>
    public const int ContainerPort = 80;

    /// <summary>The port the proxy terminates TLS on inside its container.</summary>
    public const int ContainerHttpsPort = 443;

    /// <summary>The port the proxy serves its request counters on inside its container (<c>/metrics</c>: HAProxy's built-in exporter, or the nginx template's counters; not published: Prometheus scrapes the container's address).</summary>
    public const int MetricsPort = 8405;

    /// <summary>The default proxy image: Debian bookworm with nginx-light and its Lua module, haproxy and socat.</summary>
    public const string DefaultImage = "127.0.0.1:5000/pipeline/proxy:bookworm-2";

    /// <summary>The default proxy container name.</summary>
    public const string DefaultContainerName = "pipeline-proxy";

    /// <summary>The default Docker network of the releases and the proxy.</summary>
    public const string DefaultNetwork = "pipeline";

    /// <summary>The default host address the proxy's port is published on.</summary>
    public const string DefaultListenAddress = "127.0.0.1";

    /// <summary>The default host port the proxy's port is published on.</summary>
    public const int DefaultListenPort = 8080;

    /// <summary>Which proxy runs.</summary>
    /// <value>The default value is <see cref="ProxyKind.Default"/> (<c>haproxy</c>).</value>
    public ProxyKind Kind { get; init; } = ProxyKind.Default;

    /// <summary>The proxy container's name on the production engine.</summary>
    /// <value>The default value is <c>pipeline-proxy</c>.</value>
    public string ContainerName { get; init; } = DefaultContainerName;

    /// <summary>The image the proxy container runs; it must contain nginx, haproxy and socat. Pulled when the engine lacks it.</summary>
    /// <value>The default value is <see cref="DefaultImage"/>.</value>
    public string Image { get; init; } = DefaultImage;

    /// <summary>The Docker bridge network the releases are on; created (labelled) when missing.</summary>
    /// <value>The default value is <c>pipeline</c>.</value>
    public string Network { get; init; } = DefaultNetwork;

    /// <summary>The host address the proxy's port is published on.</summary>
    /// <value>The default value is <c>127.0.0.1</c>.</value>
    public string ListenAddress { get; init; } = DefaultListenAddress;

    /// <summary>The host port the proxy's port is published on.</summary>
    /// <value>The default value is 8080.</value>
    public int ListenPort { get; init; } = DefaultListenPort;

    /// <summary>The host port the proxy's HTTPS port (443 in the container) is published on, or null for no HTTPS.</summary>
    /// <value>The default value is null: plain HTTP only.</value>
    public int? HttpsPort { get; init; }

    /// <summary>
    /// The certificate and key the proxy terminates TLS with. Without one, a proxy with <see cref="HttpsPort"/> gets a
    /// self-signed certificate (and the CA that signed it) generated when its container is created, for local use.
    /// </summary>
    /// <value>The default value is null.</value>
    public ProxyCertificate? Certificate { get; init; }

    /// <summary>
    /// A Liquid template (a file on the machine running the pipeline) that replaces the built-in one for this kind.
    /// It gets the same model as the built-in templates (see the README); every value in it is validated before rendering.
    /// </summary>
    /// <value>The default value is null: the built-in template.</value>
    public string? TemplatePath { get; init; }

    /// <summary>Extra labels for the proxy container and the network it creates.</summary>
    /// <value>The default value is no extra labels.</value>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The URL clients reach the proxy at: <c>http://ListenAddress:ListenPort/</c>.</summary>
    public Uri PublicUrl
    {
        get
        {
            var host = IPAddress.TryParse(ListenAddress, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? $"[{ListenAddress}]"
                : ListenAddress;
            return new Uri($"http://{host}:{ListenPort}/");
        }
    }

    /// <summary>The URL clients reach the proxy's HTTPS port at, or null without HTTPS.</summary>
    public Uri? PublicHttpsUrl => HttpsPort is { } port ? new UriBuilder(PublicUrl) { Scheme = "https", Port = port }.Uri : null;

    /// <summary>Checks every option; throws <see cref="ArgumentException"/> naming the option and its bad value.</summary>
    /// <returns>The same options, for chaining.</returns>
    public ProxyOptions Validate()
    {
        if (Kind is null)
        {
            throw new ArgumentException($"Proxy kind is not set; use one of: {string.Join(", ", ProxyKind.All)}.", nameof(Kind));
        }

        if (ContainerName is null || !ContainerNamePattern().IsMatch(ContainerName))
        {
            throw new ArgumentException($"Proxy container name '{ContainerName}' is not valid: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit.", nameof(ContainerName));
        }

        if (!ImageRef.TryParse(Image, out _, out var imageReason))
        {
            throw new ArgumentException($"Proxy image '{Image}' is not valid: {imageReason}.", nameof(Image));
        }

        if (Network is null || !ContainerNamePattern().IsMatch(Network))
        {
            throw new ArgumentException($"Proxy network '{Network}' is not valid: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit.", nameof(Network));
        }

        if (ListenAddress is null || !IPAddress.TryParse(ListenAddress, out var parsed) || parsed.ToString() != ListenAddress)
        {
            throw new ArgumentException($"Proxy listen address '{ListenAddress}' is not an IP address such as 127.0.0.1 or 0.0.0.0.", nameof(ListenAddress));
        }

        if (ListenPort is < 1 or > 65535)
        {
            throw new ArgumentException($"Proxy listen port {ListenPort} is out of range: use 1-65535.", nameof(ListenPort));
        }

        if (Certificate is not null && HttpsPort is null)
        {
            throw new ArgumentException("Proxy certificate given without an HTTPS port: set HttpsPort, or leave the certificate out.", nameof(Certificate));
        }

        if (HttpsPort is { } https)
        {
            if (https is < 1 or > 65535)
            {
                throw new ArgumentException($"Proxy HTTPS port {https} is out of range: use 1-65535.", nameof(HttpsPort));
            }

            if (https == ListenPort)
            {
                throw new ArgumentException($"Proxy HTTPS port {https} is also the HTTP port: give them different ports.", nameof(HttpsPort));
            }

        }

        if (TemplatePath is not null && string.IsNullOrWhiteSpace(TemplatePath))
        {
            throw new ArgumentException("Proxy template path is blank: leave it null for the built-in template or name a file.", nameof(TemplatePath));
        }

        ArgumentNullException.ThrowIfNull(Labels, nameof(Labels));
        foreach (var (key, value) in Labels)
        {
            if (string.IsNullOrWhiteSpace(key) || value is null)
            {
                throw new ArgumentException($"Proxy label '{key}' must have a non-blank key and a value.", nameof(Labels));
            }
        }

        return this;
    }

    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\z")]
    private static partial Regex ContainerNamePattern();
}
