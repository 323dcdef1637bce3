using System.Text;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;

namespace Pipeline.Configuration;

/// <summary>
/// The inputs of one deployment run. Set them in C# in the build program; environment variables
/// (<c>PIPELINE_SERVICE_DIR</c>, …) and command-line options (<c>--service-dir=…</c>) override them.
/// <see cref="OptionResolver"/> merges the three and validates the result once, before any engine is touched.
/// </summary>
public sealed record DeploymentOptions
{
    /// <summary>
    /// The folder holding the service's <c>Dockerfile</c> and <c>Dockerfile.tests</c>; a relative path is taken from the
    /// run's working directory (Cake's <c>--working</c>, else the current directory).
    /// </summary>
    /// <value>The default value is <c>.</c>: the working directory itself.</value>
    public string ServiceDirectory { get; init; } = ".";

    /// <summary>The service name: registry keys, labels, image repository and proxy routes use it.</summary>
    /// <value>The default value is null: the service folder's name.</value>
    public string? Service { get; init; }

    /// <summary>The release version, used as the image tag.</summary>
    /// <value>The default value is null: the run asks <c>git describe --tags --always --dirty</c> in the service folder (for up to 10 seconds), else uses <c>0.0.0-local</c>.</value>
    public string? Version { get; init; }

    /// <summary>The path prefix the proxy routes to this service.</summary>
    /// <value>The default value is <c>/</c>.</value>
    public string Route { get; init; } = "/";

    /// <summary>The host name the proxy routes to this service, or null for any host.</summary>
    /// <value>The default value is null.</value>
    public string? HostName { get; init; }

    /// <summary>The port the service listens on inside its container.</summary>
    /// <value>The default value is 8080.</value>
    public int ServicePort { get; init; } = 8080;

    /// <summary>The path that answers 2xx when a release is healthy.</summary>
    /// <value>The default value is <c>/health</c>.</value>
    public string HealthPath { get; init; } = "/health";

    /// <summary>How long a new release may take to become healthy.</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan HealthTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one test container may run.</summary>
    /// <value>The default value is 10 minutes.</value>
    public TimeSpan TestTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long the proxy may take to answer from the new colour after a switch.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan SwitchTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long RetireOldRelease waits for the proxy to finish the requests in flight to the old colour before it removes
    /// it (it goes on as soon as none are left); zero removes it at once.
    /// </summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long each undo step may take during a rollback (it runs even when the run was cancelled).</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan UndoTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a run waits for the service's deploy lock while another run holds it; zero fails at once, naming the holder.</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The deploy lock's lease: renewed every third of it while the run lives, it frees the lock this long after the holder dies.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan LockTtl { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The image registry (<c>host:port</c>) images are pushed to and production pulls from.</summary>
    /// <value>The default value is <c>127.0.0.1:5000</c>.</value>
    public string ImageRegistry { get; init; } = "127.0.0.1:5000";

    /// <summary>The image registry user, or null for none.</summary>
    /// <value>The default value is null.</value>
    public string? RegistryUsername { get; init; }

    /// <summary>The image registry password or token. A secret: never logged.</summary>
    /// <value>The default value is null.</value>
    public string? RegistryPassword { get; init; }

    /// <summary>The CD engine: tests, builds and pushes run there.</summary>
    /// <value>The default value is the local engine (or DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH).</value>
    public DockerEndpoint CdEngine { get; init; } = DockerEndpoint.Local;

    /// <summary>The production engine: releases and the proxy run there.</summary>
    /// <value>The default value is the local engine (or PRODUCTION_DOCKER_HOST / PRODUCTION_DOCKER_TLS_VERIFY / PRODUCTION_DOCKER_CERT_PATH).</value>
    public DockerEndpoint ProductionEngine { get; init; } = DockerEndpoint.Local;

    /// <summary>The service registry kind: <see cref="Registry.RegistryKind.Etcd"/> or <see cref="Registry.RegistryKind.Consul"/>.</summary>
    /// <value>The default value is <see cref="Registry.RegistryKind.Default"/> (<c>etcd</c>).</value>
    public RegistryKind RegistryKind { get; init; } = RegistryKind.Default;

    /// <summary>The service registry endpoints (etcd client URLs, or the Consul HTTP address).</summary>
    /// <value>The default value is <c>http://127.0.0.1:2379</c>.</value>
    public IReadOnlyList<Uri> RegistryEndpoints { get; init; } = [new Uri("http://127.0.0.1:2379")];

    /// <summary>The Consul ACL token, when the registry is Consul. A secret: never logged.</summary>
    /// <value>The default value is null.</value>
    public string? ConsulToken { get; init; }

    /// <summary>The proxy kind: <see cref="Proxy.ProxyKind.Haproxy"/> (switches without dropping requests) or <see cref="Proxy.ProxyKind.Nginx"/>.</summary>
    /// <value>The default value is <see cref="Proxy.ProxyKind.Default"/> (<c>haproxy</c>).</value>
    public ProxyKind ProxyKind { get; init; } = ProxyKind.Default;

    /// <summary>The address the proxy publishes its port on.</summary>
    /// <value>The default value is <c>127.0.0.1</c> (<see cref="ProxyOptions.DefaultListenAddress"/>).</value>
    public string ProxyAddress { get; init; } = ProxyOptions.DefaultListenAddress;

    /// <summary>The port the proxy publishes.</summary>
    /// <value>The default value is 8080 (<see cref="ProxyOptions.DefaultListenPort"/>).</value>
    public int ProxyPort { get; init; } = ProxyOptions.DefaultListenPort;

    /// <summary>The proxy container's name.</summary>
    /// <value>The default value is <c>pipeline-proxy</c> (<see cref="ProxyOptions.DefaultContainerName"/>).</value>
    public string ProxyContainer { get; init; } = ProxyOptions.DefaultContainerName;

    /// <summary>The image the proxy runs (nginx and HAProxy with socat).</summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/proxy:bookworm-2</c> (<see cref="ProxyOptions.DefaultImage"/>), which the repo's provisioning builds.</value>
    public string ProxyImage { get; init; } = ProxyOptions.DefaultImage;

    /// <summary>
    /// The port the proxy publishes HTTPS on (443 in production; the proxy terminates TLS), or null for plain HTTP only.
    /// Without <see cref="TlsCertificate"/> a self-signed certificate (and the CA that signed it) is generated when the
    /// proxy container is created, for local use.
    /// </summary>
    /// <value>The default value is null.</value>
    public int? HttpsPort { get; init; }

    /// <summary>The proxy's TLS certificate (PEM, the server certificate then its intermediates), or null; needs <see cref="TlsKey"/>.</summary>
    /// <value>The default value is null.</value>
    public string? TlsCertificate { get; init; }

    /// <summary>The private key (PEM) of <see cref="TlsCertificate"/>, or null.</summary>
    /// <value>The default value is null.</value>
    public string? TlsKey { get; init; }

    /// <summary>A Liquid template that replaces the built-in proxy config template, or null.</summary>
    /// <value>The default value is null.</value>
    public string? ProxyTemplate { get; init; }

    /// <summary>The Docker bridge network releases, the proxy and integration test containers share.</summary>
    /// <value>The default value is <c>pipeline</c> (<see cref="ProxyOptions.DefaultNetwork"/>).</value>
    public string Network { get; init; } = ProxyOptions.DefaultNetwork;

    /// <summary>The prefix of every key Pipeline writes in the service registry.</summary>
    /// <value>The default value is <c>pipeline</c>.</value>
    public string KeyPrefix { get; init; } = "pipeline";

    /// <summary>
    /// Named volumes each release gets (<c>--volume=data:/var/lib/app</c>): every deploy creates its own
    /// <c>{service}-{color}-{deployid6}-{name}</c>, labelled like the release, mounted at the path; a rollback removes it
    /// and retiring the old colour removes the old release's.
    /// </summary>
    /// <value>The default value is empty: no volumes.</value>
    public IReadOnlyList<VolumeMount> Volumes { get; init; } = [];

    /// <summary>
    /// The proxy's options, derived from these (the one place the proxy options are taken from a deploy's):
    /// <see cref="ProxyKind"/>, <see cref="ProxyContainer"/>, <see cref="ProxyImage"/>, <see cref="Network"/>,
    /// <see cref="ProxyAddress"/>, <see cref="ProxyPort"/>, <see cref="ProxyTemplate"/>, <see cref="HttpsPort"/> and the
    /// certificate loaded from <see cref="TlsCertificate"/> and <see cref="TlsKey"/>.
    /// </summary>
    public ProxyOptions ToProxyOptions() => new()
    {
        Kind = ProxyKind,
        ContainerName = ProxyContainer,
        Image = ProxyImage,
        Network = Network,
        ListenAddress = ProxyAddress,
        ListenPort = ProxyPort,
        TemplatePath = ProxyTemplate,
        HttpsPort = HttpsPort,
        Certificate = TlsCertificate is { } certificate && TlsKey is { } key ? ProxyCertificate.Load(certificate, key) : null,
    };

    /// <summary>Prints every option; the secrets (<see cref="RegistryPassword"/>, <see cref="ConsulToken"/>) only as <c>***</c>.</summary>
    private bool PrintMembers(StringBuilder builder)
    {
        var first = true;
        foreach (var property in typeof(DeploymentOptions).GetProperties())
        {
            var value = property.GetValue(this);
            var shown = property.Name is nameof(RegistryPassword) or nameof(ConsulToken)
                ? (value is null ? "" : "***")
                : value switch
                {
                    null => "",
                    string text => text,
                    System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object>()) + "]",
                    _ => value.ToString(),
                };
            builder.Append(first ? "" : ", ").Append(property.Name).Append(" = ").Append(shown);
            first = false;
        }

        return true;
    }
}

/// <summary>A named volume mounted into each release: <c>--volume=NAME:/path</c>.</summary>
/// <param name="Name">The volume's short name (lowercase letters, digits, <c>_</c>, <c>-</c>); the engine's volume is <c>{service}-{color}-{deployid6}-{name}</c>.</param>
/// <param name="Path">The absolute path in the release container.</param>
public sealed record VolumeMount(string Name, string Path)
{
    /// <inheritdoc />
    public override string ToString() => $"{Name}:{Path}";
}
