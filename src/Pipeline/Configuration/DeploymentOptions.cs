using System.Text;
using Pipeline.Docker;
using Pipeline.Forecasting;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;

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

    /// <summary>The port the service listens on inside its container (given to it as <c>PORT</c>, probed for health, routed to).</summary>
    /// <value>The default value is null: the one port the service image <c>EXPOSE</c>s (an image exposing several fails at once, naming them), else <see cref="DefaultServicePort"/>.</value>
    public int? ServicePort { get; init; }

    /// <summary>The service port when neither the options nor the image say one: 8080.</summary>
    public const int DefaultServicePort = 8080;

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

    /// <summary>The Prometheus that holds the proxy's request counters (the forecast and scaling read it; <c>ProvisionLocalServices</c> starts one here when it is on loopback and does not answer).</summary>
    /// <value>The default value is <c>http://127.0.0.1:9090</c>.</value>
    public Uri PrometheusUrl { get; init; } = new("http://127.0.0.1:9090");

    /// <summary>How the forecast reads request rates and turns them into replicas (<c>--forecast-query</c>, <c>--history-days</c>, <c>--capacity-per-replica</c>, …).</summary>
    /// <value>The default value is <see cref="ScalingOptions"/>' defaults.</value>
    public ScalingOptions Scaling { get; init; } = new();

    /// <summary>How <c>--target=Heal</c> finds instances to replace and how often it may (<c>--watch</c>, <c>--heal-interval</c>, <c>--heal-failures</c>, …).</summary>
    /// <value>The default value is <see cref="Healing.HealingOptions"/>' defaults.</value>
    public Healing.HealingOptions Healing { get; init; } = new();

    /// <summary>
    /// Image registries (<c>host:port</c>) that may be spoken to over plain HTTP or with a certificate that does not
    /// verify, as Docker's <c>--insecure-registry</c>. Registries on loopback may use plain HTTP without being listed;
    /// any other registry gets credentials only over verified TLS.
    /// </summary>
    /// <value>The default value is empty.</value>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>A PEM file of CA certificates the image registry's (and its token service's) certificate may chain to, besides the system's.</summary>
    /// <value>The default value is null: the system's CAs and Docker's <c>/etc/docker/certs.d/{registry}/ca.crt</c> when present.</value>
    public string? ImageRegistryCa { get; init; }

    /// <summary>Whether an engine may be reached over <c>tcp://</c> without TLS on an address that is not loopback (everything, registry credentials included, then travels in clear).</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool AllowInsecureEngine { get; init; }

    /// <summary>The etcd user, when etcd has authentication on; null for none.</summary>
    /// <value>The default value is null.</value>
    public string? EtcdUsername { get; init; }

    /// <summary>The etcd user's password. A secret: never logged; set it from the environment (<c>PIPELINE_ETCD_PASSWORD</c>) or use <see cref="EtcdPasswordFile"/>.</summary>
    /// <value>The default value is null.</value>
    public string? EtcdPassword { get; init; }

    /// <summary>A file holding the etcd user's password, read when etcd asks for it (so it may be written after the options are resolved, e.g. by provisioning).</summary>
    /// <value>The default value is null.</value>
    public string? EtcdPasswordFile { get; init; }

    /// <summary>
    /// How releases run on the production engine: <see cref="OrchestratorKind.Containers"/> (containers on one engine),
    /// <see cref="OrchestratorKind.Swarm"/> (services through a swarm manager), or <see cref="OrchestratorKind.Auto"/>:
    /// swarm when the production engine says it is an active swarm manager, containers when it is in no swarm (a swarm
    /// worker is refused, naming the fix).
    /// </summary>
    /// <value>The default value is <see cref="OrchestratorKind.Auto"/>.</value>
    public OrchestratorKind Orchestrator { get; init; } = OrchestratorKind.Default;

    /// <summary>Swarm placement constraints for every task of a release (<c>--placement-constraint=node.role==worker</c>); one no node satisfies fails the deploy before anything changes.</summary>
    /// <value>The default value is empty: any node.</value>
    public IReadOnlyList<string> PlacementConstraints { get; init; } = [];

    /// <summary>Swarm placement preferences: node labels to spread a release's tasks over (<c>--placement-spread=node.labels.zone</c>). Without one, Swarm already spreads a service's replicas over its nodes.</summary>
    /// <value>The default value is empty.</value>
    public IReadOnlyList<string> PlacementSpread { get; init; } = [];

    /// <summary>How a swarm release's tasks are found by name on the overlay: <c>dnsrr</c> (every task's address; needs no IPVS) or <c>vip</c> (one virtual IP, for kernels with IPVS).</summary>
    /// <value>The default value is <see cref="SwarmEndpointMode.Dnsrr"/>.</value>
    public SwarmEndpointMode EndpointMode { get; init; } = SwarmEndpointMode.Dnsrr;

    /// <summary>
    /// How many replicas a release runs: containers of the colour on one engine, tasks of the colour's service on a swarm;
    /// each is registered and is an upstream of the route.
    /// </summary>
    /// <value>The default value is null: 1 on one engine, 2 on a swarm.</value>
    public int? Replicas { get; init; }

    /// <summary>
    /// The image of the probe container that asks a new release's health path from the production side (on the release
    /// network): a busybox with <c>timeout</c> and <c>wget</c>, pulled by the production engine when it lacks it.
    /// </summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/probe:latest</c> (<see cref="DefaultProbeImage"/>), which the repo's provisioning pushes.</value>
    public string ProbeImage { get; init; } = DefaultProbeImage;

    /// <summary>The default <see cref="ProbeImage"/>.</summary>
    public const string DefaultProbeImage = "127.0.0.1:5000/pipeline/probe:latest";

    /// <summary>
    /// Webhooks that get a JSON notification when a deploy starts, succeeds, fails (and rolls back) and when a rollback
    /// fails (<c>--notify=URL</c>, repeatable). Delivery never holds up or fails a deploy; credentials in a URL (user info,
    /// or a token in its path) never reach the log.
    /// </summary>
    /// <value>The default value is empty: no notifications.</value>
    public IReadOnlyList<Uri> Notify { get; init; } = [];

    /// <summary>How long the end of a run waits for notifications still being delivered; what is left is delivered by the next run.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan NotifyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Redeploys <see cref="Version"/> from the image registry (<c>--from-registry</c>): the service image and the test image
    /// are pulled, not built or pushed; every test still runs. The registry must hold both.
    /// </summary>
    /// <value>The default value is <see langword="false"/>: build and push.</value>
    public bool FromRegistry { get; init; }

    /// <summary>
    /// Environment variables each release gets beside the contract ones (<c>SERVICE_NAME</c>, <c>PORT</c>, …), and its
    /// pre- and post-integration test containers too (never the pre-deployment tests: they run before anything is
    /// deployed and bring their own dependencies). Values may be secrets (<c>DATABASE_URL</c>): options print only the
    /// names. From the command line or <c>PIPELINE_RELEASE_ENV</c> only names are given (<c>--release-env=DATABASE_URL</c>);
    /// each value is read from the pipeline's own environment, so a secret never appears on a command line.
    /// </summary>
    /// <value>The default value is empty.</value>
    public IReadOnlyDictionary<string, string> ReleaseEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The image the migration runner uses (it needs <c>psql</c>); it runs on the production engine, on <see cref="Network"/>,
    /// when the service folder has a <c>migrations/</c> folder. The database is <c>DATABASE_URL</c> from <see cref="ReleaseEnvironment"/>.
    /// </summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/postgres:bookworm-2</c>.</value>
    public string MigrationImage { get; init; } = "127.0.0.1:5000/pipeline/postgres:bookworm-2";

    /// <summary>Names given with <c>--release-env</c>, whose values <see cref="OptionResolver"/> reads from the environment.</summary>
    internal IReadOnlyList<string> ReleaseEnvironmentNames { get; init; } = [];

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

    /// <summary>Prints every option; the secrets (<see cref="RegistryPassword"/>, <see cref="ConsulToken"/>, <see cref="EtcdPassword"/>, the values of <see cref="ReleaseEnvironment"/>) only as <c>***</c>.</summary>
    private bool PrintMembers(StringBuilder builder)
    {
        var first = true;
        foreach (var property in typeof(DeploymentOptions).GetProperties())
        {
            var value = property.GetValue(this);
            var shown = property.Name is nameof(RegistryPassword) or nameof(ConsulToken) or nameof(EtcdPassword)
                ? (value is null ? "" : "***")
                : property.Name is nameof(Notify)
                ? "[" + string.Join(", ", Notify.Select(u => Notifications.WebhookTarget.Redact(u.OriginalString))) + "]"
                : property.Name is nameof(ReleaseEnvironment)
                ? "[" + string.Join(", ", ReleaseEnvironment.Keys.Select(k => k + "=***")) + "]"
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
