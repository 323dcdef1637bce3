using Pipeline.Docker;

namespace Pipeline.Provisioning;

/// <summary>
/// Where the local services live and how <see cref="LocalServices"/> may provision them. Addresses on a
/// loopback host (and the default Docker socket) are provisioned when missing; any other address is only checked.
/// </summary>
public sealed record LocalServicesOptions
{
    /// <summary>The Docker engine, DOCKER_HOST-style.</summary>
    /// <value>The default value is DOCKER_HOST when set, else <c>unix:///var/run/docker.sock</c>.</value>
    public DockerEndpoint Docker { get; init; } = DockerEndpoint.FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>The image registry as <c>host:port</c> (spoken to over plain HTTP when on loopback).</summary>
    /// <value>The default value is <c>127.0.0.1:5000</c>.</value>
    public string ImageRegistry { get; init; } = "127.0.0.1:5000";

    /// <summary>The etcd client URL.</summary>
    /// <value>The default value is <c>http://127.0.0.1:2379</c>.</value>
    public Uri Etcd { get; init; } = new("http://127.0.0.1:2379");

    /// <summary>
    /// Whether an etcd this provisioning starts (or whose package it installs) gets authentication: a <c>root</c> user and
    /// the pipeline's user <see cref="EtcdUser"/>, with passwords generated once into <see cref="EtcdRootPasswordFile"/> and
    /// <see cref="EtcdPasswordFile"/> (readable by the owner only).
    /// </summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool EtcdAuthentication { get; init; } = true;

    /// <summary>
    /// Whether a local etcd that already runs without authentication gets it too. Off by default: every client of that
    /// etcd without credentials fails from then on.
    /// </summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool SecureExistingEtcd { get; init; }

    /// <summary>How long an etcd auth token lives without use (etcd's <c>--auth-token-ttl</c>), for an etcd this provisioning starts; null for etcd's own default (5 minutes).</summary>
    /// <value>The default value is null.</value>
    public TimeSpan? EtcdAuthTokenTtl { get; init; }

    /// <summary>The pipeline's etcd user (and role) that provisioning creates.</summary>
    public const string EtcdUser = "pipeline";

    /// <summary>The state folder used unless another is given.</summary>
    public const string DefaultStateDirectory = "/var/lib/pipeline-local";

    /// <summary>The file holding the password of <see cref="EtcdUser"/>: <c>{StateDirectory}/secrets/etcd-pipeline.password</c>.</summary>
    public string EtcdPasswordFile => EtcdPasswordFileIn(StateDirectory);

    /// <summary>Where the password of <see cref="EtcdUser"/> is kept for a state folder.</summary>
    public static string EtcdPasswordFileIn(string stateDirectory) => Path.Combine(stateDirectory, "secrets", "etcd-pipeline.password");

    /// <summary>The file holding the password of etcd's <c>root</c>: <c>{StateDirectory}/secrets/etcd-root.password</c>.</summary>
    public string EtcdRootPasswordFile => Path.Combine(SecretsDirectory, "etcd-root.password");

    /// <summary>The folder of generated secrets (mode 0700).</summary>
    public string SecretsDirectory => Path.Combine(StateDirectory, "secrets");

    /// <summary>Prometheus' URL, or null when the build does not need it. Provisioned like etcd when on loopback.</summary>
    /// <value>The default value is null: Prometheus is neither checked nor started.</value>
    public Uri? Prometheus { get; init; }

    /// <summary>How long a Prometheus started here keeps its data: longer than any history the forecast reads.</summary>
    /// <value>The default value is 30 days.</value>
    public TimeSpan PrometheusRetention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Where started services keep their data, configuration, pid files and logs.</summary>
    /// <value>The default value is <c>/var/lib/pipeline-local</c>.</value>
    public string StateDirectory { get; init; } = DefaultStateDirectory;

    /// <summary>Whether missing Debian packages may be installed with apt-get (needs root on Debian).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool AllowInstall { get; init; } = true;

    /// <summary>Programs installed (program → Debian package) when missing, besides the services themselves.</summary>
    /// <value>The default value is the tools that build the base images: mmdebstrap and busybox-static.</value>
    public IReadOnlyDictionary<string, string> Tools { get; init; } = BaseImageTools;

    /// <summary>The tools that build the base images: mmdebstrap, busybox (busybox-static).</summary>
    public static IReadOnlyDictionary<string, string> BaseImageTools { get; } =
        new Dictionary<string, string> { ["mmdebstrap"] = "mmdebstrap", ["busybox"] = "busybox-static" };

    /// <summary>How long one reachability check may take.</summary>
    /// <value>The default value is 2 seconds.</value>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a started service may take to answer.</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long to keep checking after a started process exited without answering: a package's init script may be
    /// starting the same service at that moment (then ours exits because the address or pid file is taken).
    /// </summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan ExitGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a starting service is checked.</summary>
    /// <value>The default value is 200 milliseconds.</value>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The engine's socket when nothing else is configured: the only Docker address provisioned.</summary>
    public static Uri DefaultDockerSocket { get; } = new("unix:///var/run/docker.sock");

    /// <summary>The logs folder inside <see cref="StateDirectory"/>.</summary>
    public string LogDirectory => Path.Combine(StateDirectory, "logs");

    /// <summary>The image registry's root URL, e.g. <c>http://127.0.0.1:5000/</c>.</summary>
    public Uri ImageRegistryUrl => new($"http://{ImageRegistry}/");

    /// <summary>Checks the values once; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public LocalServicesOptions Validate()
    {
        if (!Uri.TryCreate($"http://{ImageRegistry}/", UriKind.Absolute, out var registry) || registry.AbsolutePath != "/" || ImageRegistry.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Image registry '{ImageRegistry}' is not host:port (e.g. 127.0.0.1:5000).");
        }

        if (!Etcd.IsAbsoluteUri || (Etcd.Scheme != Uri.UriSchemeHttp && Etcd.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"etcd address '{Etcd}' is not an http(s) URL (e.g. http://127.0.0.1:2379).");
        }

        if (Prometheus is not null && (!Prometheus.IsAbsoluteUri || (Prometheus.Scheme != Uri.UriSchemeHttp && Prometheus.Scheme != Uri.UriSchemeHttps)))
        {
            throw new ArgumentException($"Prometheus address '{Prometheus}' is not an http(s) URL (e.g. http://127.0.0.1:9090).");
        }

        if (PrometheusRetention < TimeSpan.FromDays(1))
        {
            throw new ArgumentException($"Prometheus retention {PrometheusRetention.TotalDays:0.##} days is shorter than a day; keep longer than the forecast's history.");
        }

        if (Docker.Host.Scheme is not ("unix" or "tcp" or "http" or "https"))
        {
            throw new ArgumentException($"Docker host '{Docker.Host}' must be unix:///path or tcp://host:port.");
        }

        if (string.IsNullOrWhiteSpace(StateDirectory) || !Path.IsPathRooted(StateDirectory))
        {
            throw new ArgumentException($"State directory '{StateDirectory}' must be an absolute path.");
        }

        if (ProbeTimeout <= TimeSpan.Zero || StartTimeout <= TimeSpan.Zero || PollInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("ProbeTimeout, StartTimeout and PollInterval must be positive.");
        }

        return this;
    }
}
