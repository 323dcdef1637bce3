using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;

namespace Pipeline.Configuration;

/// <summary>
/// Merges <see cref="DeploymentOptions"/> from code with environment variables and command-line options
/// (command line wins), then validates everything once. Every option <c>--name</c> has the environment variable
/// <c>PIPELINE_NAME</c> (upper case, dashes as underscores); engines also read DOCKER_HOST-style variables.
/// </summary>
public static partial class OptionResolver
{
    /// <summary>One option: its name, an example shown after a problem with it (none when the problem already lists the choices), and how it sets the options.</summary>
    private sealed record Definition(string Name, string? Example, Func<DeploymentOptions, string, DeploymentOptions> Apply);

    private static readonly Definition[] Definitions =
    [
        new("service-dir", "--service-dir=examples/hello", (o, v) => o with { ServiceDirectory = v }),
        new("service", "--service=hello", (o, v) => o with { Service = v }),
        new("release-version", "--release-version=1.4.0", (o, v) => o with { Version = v }),
        new("route", "--route=/api", (o, v) => o with { Route = v }),
        new("host-name", "--host-name=api.example.test", (o, v) => o with { HostName = v.Length == 0 ? null : v }),
        new("service-port", "--service-port=8080", (o, v) => o with { ServicePort = ParseInt(v) }),
        new("health-path", "--health-path=/health", (o, v) => o with { HealthPath = v }),
        new("health-timeout", "--health-timeout=60", (o, v) => o with { HealthTimeout = ParseSeconds(v) }),
        new("test-timeout", "--test-timeout=600", (o, v) => o with { TestTimeout = ParseSeconds(v) }),
        new("switch-timeout", "--switch-timeout=30", (o, v) => o with { SwitchTimeout = ParseSeconds(v) }),
        new("undo-timeout", "--undo-timeout=60", (o, v) => o with { UndoTimeout = ParseSeconds(v) }),
        new("drain-timeout", "--drain-timeout=30", (o, v) => o with { DrainTimeout = ParseSeconds(v) }),
        new("lock-timeout", "--lock-timeout=60", (o, v) => o with { LockTimeout = ParseSeconds(v) }),
        new("lock-ttl", "--lock-ttl=10", (o, v) => o with { LockTtl = ParseSeconds(v) }),
        new("image-registry", "--image-registry=127.0.0.1:5000", (o, v) => o with { ImageRegistry = v }),
        new("registry-username", "--registry-username=ci", (o, v) => o with { RegistryUsername = v }),
        new("registry", null, (o, v) => o with { RegistryKind = RegistryKind.TryParse(v, out var kind) ? kind : throw new FormatException(UnknownRegistryKind) }),
        new("registry-endpoints", "--registry-endpoints=http://127.0.0.1:2379", (o, v) => o with { RegistryEndpoints = ParseUris(v) }),
        new("proxy", null, (o, v) => o with { ProxyKind = ProxyKind.TryParse(v, out var kind) ? kind : throw new FormatException(UnknownProxyKind) }),
        new("proxy-address", "--proxy-address=127.0.0.1", (o, v) => o with { ProxyAddress = v }),
        new("proxy-port", "--proxy-port=8080", (o, v) => o with { ProxyPort = ParseInt(v) }),
        new("proxy-container", "--proxy-container=pipeline-proxy", (o, v) => o with { ProxyContainer = v }),
        new("proxy-image", $"--proxy-image={ProxyOptions.DefaultImage}", (o, v) => o with { ProxyImage = v }),
        new("proxy-template", "--proxy-template=deploy/haproxy.cfg.liquid", (o, v) => o with { ProxyTemplate = v }),
        new("https-port", "--https-port=443", (o, v) => o with { HttpsPort = v.Length == 0 ? null : ParseInt(v) }),
        new("tls-certificate", "--tls-certificate=/etc/pipeline/tls/proxy.crt", (o, v) => o with { TlsCertificate = v.Length == 0 ? null : v }),
        new("tls-key", "--tls-key=/etc/pipeline/tls/proxy.key", (o, v) => o with { TlsKey = v.Length == 0 ? null : v }),
        new("network", "--network=pipeline", (o, v) => o with { Network = v }),
        new("key-prefix", "--key-prefix=pipeline", (o, v) => o with { KeyPrefix = v }),
        new("volume", "--volume=data:/var/lib/app", (o, v) => o with { Volumes = ParseVolumes(v) }),
        new("release-env", "--release-env=DATABASE_URL", (o, v) => o with { ReleaseEnvironmentNames = ParseNames(v) }),
        new("replicas", "--replicas=2", (o, v) => o with { Replicas = ParseInt(v) }),
        new("orchestrator", null, (o, v) => o with { Orchestrator = OrchestratorKind.TryParse(v, out var kind) ? kind : throw new FormatException(UnknownOrchestrator) }),
        new("placement-constraint", "--placement-constraint=node.role==worker", (o, v) => o with { PlacementConstraints = ParseList(v) }),
        new("placement-spread", "--placement-spread=node.labels.zone", (o, v) => o with { PlacementSpread = ParseList(v) }),
        new("endpoint-mode", null, (o, v) => o with { EndpointMode = v switch { "dnsrr" => SwarmEndpointMode.Dnsrr, "vip" => SwarmEndpointMode.Vip, _ => throw new FormatException("unknown endpoint mode; use --endpoint-mode=dnsrr or --endpoint-mode=vip") } }),
        new("probe-image", $"--probe-image={DeploymentOptions.DefaultProbeImage}", (o, v) => o with { ProbeImage = v }),
        new("migration-image", "--migration-image=127.0.0.1:5000/pipeline/postgres:bookworm-2", (o, v) => o with { MigrationImage = v }),

        new("insecure-registry", "--insecure-registry=registry.internal:5000", (o, v) => o with { InsecureRegistries = ParseList(v) }),
        new("image-registry-ca", "--image-registry-ca=/etc/pipeline/registry-ca.pem", (o, v) => o with { ImageRegistryCa = v.Length == 0 ? null : v }),
        new("allow-insecure-engine", "--allow-insecure-engine=true", (o, v) => o with { AllowInsecureEngine = ParseBool(v) }),
        new("etcd-username", "--etcd-username=pipeline", (o, v) => o with { EtcdUsername = v.Length == 0 ? null : v }),
        new("etcd-password-file", "--etcd-password-file=/var/lib/pipeline-local/secrets/etcd-pipeline.password", (o, v) => o with { EtcdPasswordFile = v.Length == 0 ? null : v }),
        new("prometheus-url", "--prometheus-url=http://127.0.0.1:9090", (o, v) => o with { PrometheusUrl = ParseUri(v) }),
        new("forecast-query", "--forecast-query='sum(rate(http_requests_total{service=\"${service}\"}[${window}]))'", (o, v) => o with { Scaling = o.Scaling with { Query = v } }),
        new("history-days", "--history-days=14", (o, v) => o with { Scaling = o.Scaling with { HistoryDays = ParseInt(v) } }),
        new("forecast-hours", "--forecast-hours=48", (o, v) => o with { Scaling = o.Scaling with { HorizonHours = ParseInt(v) } }),
        new("capacity-per-replica", "--capacity-per-replica=100", (o, v) => o with { Scaling = o.Scaling with { CapacityPerReplica = ParseNumber(v) } }),
        new("headroom", "--headroom=1.2", (o, v) => o with { Scaling = o.Scaling with { Headroom = ParseNumber(v) } }),
        new("min-replicas", "--min-replicas=1", (o, v) => o with { Scaling = o.Scaling with { MinReplicas = ParseInt(v) } }),
        new("max-replicas", "--max-replicas=10", (o, v) => o with { Scaling = o.Scaling with { MaxReplicas = ParseInt(v) } }),
        new("stabilization-window", "--stabilization-window=300", (o, v) => o with { Scaling = o.Scaling with { StabilizationWindow = ParseSeconds(v) } }),
        new("forecast-only", "--forecast-only=true", (o, v) => o with { Scaling = o.Scaling with { ForecastOnly = ParseBool(v) } }),
        new("watch", "--watch=true", (o, v) => o with { Healing = o.Healing with { Watch = ParseBool(v) } }),
        new("heal-interval", "--heal-interval=10", (o, v) => o with { Healing = o.Healing with { Interval = ParseSeconds(v) } }),
        new("heal-failures", "--heal-failures=3", (o, v) => o with { Healing = o.Healing with { FailureThreshold = ParseInt(v) } }),
        new("heal-backoff", "--heal-backoff=10", (o, v) => o with { Healing = o.Healing with { Backoff = ParseSeconds(v) } }),
        new("heal-backoff-max", "--heal-backoff-max=300", (o, v) => o with { Healing = o.Healing with { BackoffMax = ParseSeconds(v) } }),
        new("heal-max-replacements", "--heal-max-replacements=3", (o, v) => o with { Healing = o.Healing with { MaxReplacements = ParseInt(v) } }),
        new("heal-window", "--heal-window=600", (o, v) => o with { Healing = o.Healing with { Window = ParseSeconds(v) } }),
        new("heal-node-failures", "--heal-node-failures=5", (o, v) => o with { Healing = o.Healing with { NodeFailures = ParseInt(v) } }),
        new("heal-node-window", "--heal-node-window=600", (o, v) => o with { Healing = o.Healing with { NodeWindow = ParseSeconds(v) } }),
        new("heal-node-undrain-after", "--heal-node-undrain-after=600", (o, v) => o with { Healing = o.Healing with { NodeUndrainAfter = ParseSeconds(v) } }),
        new("notify", "--notify=https://hooks.example.test/deploys", (o, v) => o with { Notify = ParseNotify(v) }),
        new("notify-timeout", "--notify-timeout=10", (o, v) => o with { NotifyTimeout = ParseSeconds(v) }),
        new("from-registry", "--from-registry --release-version=1.4.0", (o, v) => o with { FromRegistry = ParseBool(v) }),
    ];

    /// <summary>The variables the pipeline sets on releases and test containers itself; <c>--release-env</c> may not name them.</summary>
    public static IReadOnlyList<string> ReservedEnvironment { get; } = ["SERVICE_NAME", "SERVICE_VERSION", "SERVICE_COLOR", "SERVICE_ROUTE", "PORT", "TEST_TYPE", "TARGET_URL", "TARGET_HOST", "PROXY_URL"];

    private static readonly string UnknownRegistryKind =
        $"unknown service registry; use {string.Join(" or ", RegistryKind.All.OrderByDescending(k => k == RegistryKind.Default).Select(k => $"--registry={k}"))}";

    private static readonly string UnknownOrchestrator =
        $"unknown orchestrator; use {string.Join(" or ", OrchestratorKind.All.Select(k => $"--orchestrator={k}"))}";

    private static readonly string UnknownProxyKind =
        $"unknown proxy kind; use {string.Join(" or ", ProxyKind.All.OrderByDescending(k => k == ProxyKind.Default).Select(k => $"--proxy={k}"))}";

    /// <summary>Options that may be given more than once on the command line; their values are joined with commas.</summary>
    public static bool IsRepeatable(string option) => option is "volume" or "insecure-registry" or "release-env" or "placement-constraint" or "placement-spread" or "notify";

    /// <summary>The environment variable that sets an option: <c>service-dir</c> → <c>PIPELINE_SERVICE_DIR</c>.</summary>
    public static string EnvironmentVariableFor(string option) => "PIPELINE_" + option.ToUpperInvariant().Replace('-', '_');

    /// <summary>The most replicas <c>--replicas</c> takes.</summary>
    public const int MaxReplicas = 100;

    /// <summary>The version used when none is given and git cannot tell one.</summary>
    public const string FallbackVersion = "0.0.0-local";

    /// <summary>
    /// Merges and validates. <paramref name="getArgument"/> answers command-line options by name (null when absent),
    /// <paramref name="getEnvironment"/> environment variables. Relative paths are taken from <paramref name="workingDirectory"/>.
    /// A version left unset stays null: <see cref="DefaultVersionAsync"/> finds it (the run does, before its first stage).
    /// </summary>
    /// <exception cref="InvalidOptionsException">One or more values are invalid; each problem names the value and the fix.</exception>
    public static DeploymentOptions Resolve(
        DeploymentOptions fromCode,
        Func<string, string?> getArgument,
        Func<string, string?> getEnvironment,
        string workingDirectory)
    {
        var problems = new List<string>();
        var options = fromCode;
        foreach (var definition in Definitions)
        {
            var value = getArgument(definition.Name) ?? getEnvironment(EnvironmentVariableFor(definition.Name));
            if (value is null)
            {
                continue;
            }

            try
            {
                options = definition.Apply(options, value.Trim());
            }
            catch (FormatException e)
            {
                problems.Add($"--{definition.Name}={Shown(definition.Name, value)}: {e.Message}" + (definition.Example is { } example ? $"; e.g. {example}" : ""));
            }
        }

        options = ResolveSecrets(options, getArgument, getEnvironment, workingDirectory, problems);
        options = options with
        {
            CdEngine = Engine(options.CdEngine, "", getArgument("docker-host"), getEnvironment, problems),
            ProductionEngine = Engine(options.ProductionEngine, "PRODUCTION_", getArgument("production-docker-host"), getEnvironment, problems),
            ServiceDirectory = Path.GetFullPath(options.ServiceDirectory, workingDirectory),
            ProxyTemplate = options.ProxyTemplate is null ? null : Path.GetFullPath(options.ProxyTemplate, workingDirectory),
            TlsCertificate = options.TlsCertificate is null ? null : Path.GetFullPath(options.TlsCertificate, workingDirectory),
            TlsKey = options.TlsKey is null ? null : Path.GetFullPath(options.TlsKey, workingDirectory),
            ImageRegistryCa = options.ImageRegistryCa is null ? null : Path.GetFullPath(options.ImageRegistryCa, workingDirectory),
            EtcdPasswordFile = options.EtcdPasswordFile is null ? null : Path.GetFullPath(options.EtcdPasswordFile, workingDirectory),
        };
        options = options with { Service = options.Service ?? Path.GetFileName(options.ServiceDirectory.TrimEnd('/')).ToLowerInvariant() };
        options = WithReleaseEnvironment(options, getEnvironment, problems);

        problems.AddRange(Validate(options));
        if (problems.Count > 0)
        {
            throw new InvalidOptionsException(problems);
        }

        return options;
    }

    /// <summary>Every problem with a set of options, each naming the value and the fix; empty when valid.</summary>
    public static IReadOnlyList<string> Validate(DeploymentOptions o)
    {
        var problems = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                problems.Add(problem);
            }
        }

        var dockerfile = Path.Combine(o.ServiceDirectory, "Dockerfile");
        var testsDockerfile = Path.Combine(o.ServiceDirectory, "Dockerfile.tests");
        if (!Directory.Exists(o.ServiceDirectory))
        {
            problems.Add($"--service-dir={o.ServiceDirectory}: the folder does not exist; point it at the folder holding the service's Dockerfile and Dockerfile.tests");
        }
        else
        {
            Check(IsReadableFile(dockerfile), $"--service-dir={o.ServiceDirectory}: no readable Dockerfile at {dockerfile}; add one or point --service-dir at the service's folder");
            Check(IsReadableFile(testsDockerfile), $"--service-dir={o.ServiceDirectory}: no readable Dockerfile.tests at {testsDockerfile}; add one (its container runs the tests selected by TEST_TYPE)");
        }

        Check(o.Service is not null && ServiceName().IsMatch(o.Service),
            $"--service={Escape(o.Service)}: a service name is 1-63 lowercase letters, digits and dashes, starting with a letter or digit; set --service=NAME");
        Check(o.Version is null || IsVersion(o.Version),
            $"--release-version={Escape(o.Version)}: a version is an image tag: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (the proxy shows it in a header); e.g. --release-version=1.4.0");
        Check(RoutePrefix().IsMatch(o.Route),
            $"--route={Escape(o.Route)}: a route is a path prefix of letters, digits and . _ ~ / -, starting with '/'; e.g. --route=/api");
        Check(o.HostName is null || HostName().IsMatch(o.HostName),
            $"--host-name={Escape(o.HostName)}: a host name is lowercase labels of letters, digits and dashes separated by dots; e.g. --host-name=api.example.test");
        Check(o.ServicePort is null or (>= 1 and <= 65535), $"--service-port={o.ServicePort}: must be a port number 1-65535; e.g. --service-port=8080");
        Check(o.ProxyPort is >= 1 and <= 65535, $"--proxy-port={o.ProxyPort}: must be a port number 1-65535; e.g. --proxy-port=8080");
        Check(RoutePrefix().IsMatch(o.HealthPath), $"--health-path={Escape(o.HealthPath)}: must be a path starting with '/'; e.g. --health-path=/health");
        CheckTimeout(o.HealthTimeout, "health-timeout", 60);
        CheckTimeout(o.TestTimeout, "test-timeout", 600);
        CheckTimeout(o.SwitchTimeout, "switch-timeout", 30);
        CheckTimeout(o.UndoTimeout, "undo-timeout", 60);
        Check(o.DrainTimeout >= TimeSpan.Zero && o.DrainTimeout <= TimeSpan.FromHours(1),
            $"--drain-timeout={Seconds(o.DrainTimeout)}: must be 0 (remove the old colour at once) to 3600 seconds; e.g. --drain-timeout=30");
        Check(o.LockTimeout >= TimeSpan.Zero && o.LockTimeout <= TimeSpan.FromDays(1),
            $"--lock-timeout={Seconds(o.LockTimeout)}: must be a number of seconds from 0 (fail at once when another run holds the lock) to a day; e.g. --lock-timeout=60");
        Check(o.LockTtl >= TimeSpan.FromSeconds(2) && o.LockTtl <= TimeSpan.FromHours(1),
            $"--lock-ttl={Seconds(o.LockTtl)}: must be 2 to 3600 seconds (the registry's leases are no shorter than about 2 s); e.g. --lock-ttl=10");
        Check(RegistryHost().IsMatch(o.ImageRegistry),
            $"--image-registry={Escape(o.ImageRegistry)}: an image registry is host[:port]; e.g. --image-registry=127.0.0.1:5000");
        Check((o.RegistryUsername is null) == (o.RegistryPassword is null),
            "--registry-username and PIPELINE_REGISTRY_PASSWORD: set both or neither");
        Check(o.RegistryKind is not null, $"--registry=: {UnknownRegistryKind}");
        Check(o.RegistryEndpoints.Count > 0 && o.RegistryEndpoints.All(u => u.IsAbsoluteUri && u.Scheme is "http" or "https"),
            $"--registry-endpoints={string.Join(",", o.RegistryEndpoints.Select(u => u.OriginalString))}: give one or more http(s) URLs, comma-separated; e.g. --registry-endpoints=http://127.0.0.1:2379");
        Check(o.ProxyKind is not null, $"--proxy=: {UnknownProxyKind}");
        Check(IPAddress.TryParse(o.ProxyAddress, out _), $"--proxy-address={Escape(o.ProxyAddress)}: must be an IP address; e.g. --proxy-address=127.0.0.1");
        Check(DockerName().IsMatch(o.ProxyContainer), $"--proxy-container={Escape(o.ProxyContainer)}: a container name is letters, digits and _ . -; e.g. --proxy-container=pipeline-proxy");
        Check(DockerName().IsMatch(o.Network), $"--network={Escape(o.Network)}: a network name is letters, digits and _ . -; e.g. --network=pipeline");
        Check(ImageRef.TryParse(o.MigrationImage, out _, out var migrationImageProblem), $"--migration-image={Escape(o.MigrationImage)}: {migrationImageProblem}; e.g. --migration-image=127.0.0.1:5000/pipeline/postgres:bookworm-2");
        Check(ImageRef.TryParse(o.ProxyImage, out _, out var imageProblem), $"--proxy-image={Escape(o.ProxyImage)}: {imageProblem}; e.g. --proxy-image={ProxyOptions.DefaultImage}");
        Check(o.ProxyTemplate is null || IsReadableFile(o.ProxyTemplate), $"--proxy-template={o.ProxyTemplate}: the file does not exist or cannot be read");
        if (o.HttpsPort is { } https)
        {
            Check(https is >= 1 and <= 65535, $"--https-port={https}: must be a port number 1-65535; e.g. --https-port=443");
            Check(https != o.ProxyPort, $"--https-port={https}: it is also --proxy-port; give HTTPS its own port; e.g. --https-port=443");
        }

        if ((o.TlsCertificate is null) != (o.TlsKey is null))
        {
            problems.Add($"--tls-certificate and --tls-key: give both (the certificate and its private key, PEM) or neither (a self-signed certificate is generated)");
        }
        else if (o.TlsCertificate is { } certificate && o.TlsKey is { } key)
        {
            if (o.HttpsPort is null)
            {
                problems.Add($"--tls-certificate={certificate}: the proxy only uses a certificate on an HTTPS port; add --https-port (e.g. --https-port=443) or leave the certificate out");
            }

            try
            {
                ProxyCertificate.Load(certificate, key);
            }
            catch (ProxyCertificateException e)
            {
                problems.Add($"--tls-certificate={certificate} --tls-key={key}: {e.Message}");
            }
        }
        Check(o.Replicas is null or (>= 1 and <= MaxReplicas),
            $"--replicas={o.Replicas}: a release runs 1 to {MaxReplicas} replicas; e.g. --replicas=2");
        Check(ImageRef.TryParse(o.ProbeImage, out _, out var probeProblem),
            $"--probe-image={Escape(o.ProbeImage)}: {probeProblem}; e.g. --probe-image={DeploymentOptions.DefaultProbeImage}");
        Check(o.Orchestrator is not null, $"--orchestrator=: {UnknownOrchestrator}");
        foreach (var constraint in o.PlacementConstraints)
        {
            Check(PlacementConstraint.TryParse(constraint, out _),
                $"--placement-constraint={Escape(constraint)}: a constraint is ATTRIBUTE==VALUE or ATTRIBUTE!=VALUE; e.g. --placement-constraint=node.role==worker");
        }

        foreach (var spread in o.PlacementSpread)
        {
            Check(SpreadDescriptor().IsMatch(spread),
                $"--placement-spread={Escape(spread)}: name a node label to spread over; e.g. --placement-spread=node.labels.zone");
        }

        Check(o.Orchestrator != OrchestratorKind.Containers || (o.PlacementConstraints.Count == 0 && o.PlacementSpread.Count == 0),
            "--placement-constraint and --placement-spread place tasks on swarm nodes, but --orchestrator=containers runs plain containers on one engine; drop them or use --orchestrator=swarm");
        Check(KeyPrefix().IsMatch(o.KeyPrefix), $"--key-prefix={Escape(o.KeyPrefix)}: lowercase letters, digits and / _ -; e.g. --key-prefix=pipeline");
        foreach (var url in o.Notify)
        {
            Check(Notifications.WebhookTarget.TryParse(url.OriginalString, out _, out var notifyProblem),
                $"--notify={Notifications.WebhookTarget.Redact(url.OriginalString)}: {notifyProblem}; e.g. --notify=https://hooks.example.test/deploys");
        }

        CheckTimeout(o.NotifyTimeout, "notify-timeout", 10);
        Check(!o.FromRegistry || o.Version is not null,
            "--from-registry: give the version to redeploy with --release-version=V (Status and History list the versions deployed)");
        problems.AddRange(ValidateTransport(o));
        foreach (var volume in o.Volumes)
        {
            Check(VolumeName().IsMatch(volume.Name) && VolumePath().IsMatch(volume.Path) && !volume.Path.Split('/').Contains(".."),
                $"--volume={Escape(volume.Name)}:{Escape(volume.Path)}: a volume is NAME:/absolute/path, NAME 1-32 lowercase letters, digits, _ and -, the path letters, digits and . _ - / without '..'; e.g. --volume=data:/var/lib/app");
        }

        foreach (var name in o.ReleaseEnvironment.Keys)
        {
            Check(EnvironmentName().IsMatch(name),
                $"--release-env={Escape(name)}: an environment variable name is letters, digits and _, not starting with a digit; e.g. --release-env=DATABASE_URL");
            Check(!ReservedEnvironment.Contains(name, StringComparer.Ordinal),
                $"--release-env={Escape(name)}: the pipeline sets {name} itself ({string.Join(", ", ReservedEnvironment)}); give your variable another name");
        }

        foreach (var name in o.Volumes.GroupBy(v => v.Name).Where(g => g.Count() > 1).Select(g => g.Key))
        {
            problems.Add($"--volume={Escape(name)}: the volume name is given more than once; give each volume its own name");
        }

        foreach (var path in o.Volumes.GroupBy(v => v.Path.TrimEnd('/')).Where(g => g.Count() > 1).Select(g => g.Key))
        {
            problems.Add($"--volume=…:{Escape(path)}: two volumes are mounted at the same path; give each volume its own path");
        }

        Check(o.PrometheusUrl.IsAbsoluteUri && o.PrometheusUrl.Scheme is "http" or "https",
            $"--prometheus-url={Escape(o.PrometheusUrl.OriginalString)}: must be Prometheus' http(s) URL; e.g. --prometheus-url=http://127.0.0.1:9090");
        problems.AddRange(o.Scaling.Problems());
        problems.AddRange(o.Healing.Problems());

        return problems;

        static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(CultureInfo.InvariantCulture);

        void CheckTimeout(TimeSpan value, string name, int example) =>
            Check(value > TimeSpan.Zero && value <= TimeSpan.FromDays(1),
                $"--{name}={value.TotalSeconds.ToString(CultureInfo.InvariantCulture)}: must be a positive number of seconds (at most a day); e.g. --{name}={example}");
    }

    private static DockerEndpoint Engine(DockerEndpoint fromCode, string prefix, string? argument, Func<string, string?> getEnvironment, List<string> problems)
    {
        var host = argument ?? getEnvironment(prefix + "DOCKER_HOST");
        if (host is null)
        {
            return fromCode;
        }

        try
        {
            var tls = DockerEndpoint.IsTlsVerifyOn(getEnvironment(prefix + "DOCKER_TLS_VERIFY"));
            return DockerEndpoint.Parse(host, tls, getEnvironment(prefix + "DOCKER_CERT_PATH"));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            problems.Add($"{prefix}DOCKER_HOST={Escape(host)}: {e.Message}");
            return fromCode;
        }
    }

    /// <summary>Adds the variables named with <c>--release-env</c>, their values read from the environment.</summary>
    private static DeploymentOptions WithReleaseEnvironment(DeploymentOptions options, Func<string, string?> getEnvironment, List<string> problems)
    {
        if (options.ReleaseEnvironmentNames.Count == 0)
        {
            return options;
        }

        var environment = new Dictionary<string, string>(options.ReleaseEnvironment, StringComparer.Ordinal);
        foreach (var name in options.ReleaseEnvironmentNames)
        {
            if (getEnvironment(name) is { } value)
            {
                environment[name] = value;
            }
            else
            {
                problems.Add($"--release-env={Escape(name)}: the pipeline's environment has no {Escape(name)}; export it (its value is read from the environment only, so secrets stay off the command line)");
            }
        }

        return options with { ReleaseEnvironment = environment, ReleaseEnvironmentNames = [] };
    }

    /// <summary>
    /// The version a run deploys when none is given: <c>git describe --tags --always --dirty</c> in
    /// <paramref name="directory"/> (a leading <c>v</c> before a digit dropped), else <see cref="FallbackVersion"/> (no git,
    /// not a repository, an answer that is no image tag, or no answer within <paramref name="timeout"/>: git is then stopped).
    /// </summary>
    public static async Task<string> DefaultVersionAsync(string directory, TimeSpan timeout, TimeProvider? time = null, CancellationToken ct = default)
    {
        var start = new ProcessStartInfo("git", ["describe", "--tags", "--always", "--dirty"])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process git;
        try
        {
            git = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return FallbackVersion;
        }

        using (git)
        {
            using var limit = new CancellationTokenSource(timeout, time ?? TimeProvider.System);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
            try
            {
                var output = git.StandardOutput.ReadToEndAsync(linked.Token);
                var errors = git.StandardError.ReadToEndAsync(linked.Token);
                await git.WaitForExitAsync(linked.Token).ConfigureAwait(false);
                var text = (await output.ConfigureAwait(false)).Trim();
                await errors.ConfigureAwait(false);
                var tag = text.StartsWith('v') && text.Length > 1 && char.IsDigit(text[1]) ? text[1..] : text;
                return git.ExitCode == 0 && IsVersion(tag) ? tag : FallbackVersion;
            }
            catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                return FallbackVersion;
            }
            finally
            {
                if (!git.HasExited)
                {
                    git.Kill(entireProcessTree: true);
                }
            }
        }
    }

    private static bool IsReadableFile(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string Shown(string option, string value) =>
        option.Contains("password") || option.Contains("token") || option == "release-env" ? "***"
        : option == "notify" ? string.Join(',', value.Split(',').Select(Notifications.WebhookTarget.Redact))
        : Escape(value);

    /// <summary>Shows a bad value on one line, with control characters visible.</summary>
    private static string Escape(string? value) =>
        value is null ? "" : value.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");

    private static int ParseInt(string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new FormatException("not a whole number");

    private static double ParseNumber(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
            ? number
            : throw new FormatException("not a number");

    /// <summary>true/false (also 1/0, yes/no); an option given without a value (<c>--allow-insecure-engine</c>) is true.</summary>
    private static bool ParseBool(string value) => value.ToLowerInvariant() switch
    {
        "" or "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        _ => throw new FormatException("not true or false"),
    };

    private static TimeSpan ParseSeconds(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds) && Math.Abs(seconds) < 1e7
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException("not a number of seconds");

    private static IReadOnlyList<VolumeMount> ParseVolumes(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(text => text.IndexOf(':') is var colon and > 0
                ? new VolumeMount(text[..colon], text[(colon + 1)..])
                : throw new FormatException($"'{Escape(text)}' is not NAME:/path"))
            .ToList();

    private static IReadOnlyList<Uri> ParseNotify(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(text => Notifications.WebhookTarget.Parse(text).Url)
            .ToList();

    private static IReadOnlyList<string> ParseNames(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => name.Contains('=', StringComparison.Ordinal)
                ? throw new FormatException($"give the variable's name only ('{Escape(name[..name.IndexOf('=', StringComparison.Ordinal)])}'); its value is read from the pipeline's environment so that secrets never appear on a command line")
                : name)
            .ToList();

    private static IReadOnlyList<string> ParseList(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();


    private static Uri ParseUri(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) ? uri : throw new FormatException($"'{Escape(value)}' is not an absolute URL");

    private static IReadOnlyList<Uri> ParseUris(string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(text => Uri.TryCreate(text, UriKind.Absolute, out var uri) ? uri : throw new FormatException($"'{text}' is not an absolute URL"))
            .ToList();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,62}\z")]
    internal static partial Regex ServiceName();

    /// <summary>A version is an image tag and a value the proxy puts in a header: both rules at once.</summary>
    private static bool IsVersion(string version) => VersionTag().IsMatch(version) && ProxyRouteValidation.IsVersion(version);

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z")]
    private static partial Regex VersionTag();

    [GeneratedRegex(@"^/[A-Za-z0-9._~/-]*\z")]
    private static partial Regex RoutePrefix();

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\z")]
    private static partial Regex HostName();

    [GeneratedRegex(@"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?\z")]
    private static partial Regex RegistryHost();

    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\z")]
    private static partial Regex DockerName();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9/_-]{0,62}\z")]
    private static partial Regex KeyPrefix();

    [GeneratedRegex(@"^node\.labels\.[A-Za-z0-9_.\-]+\z")]
    private static partial Regex SpreadDescriptor();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9_-]{0,31}\z")]
    private static partial Regex VolumeName();

    [GeneratedRegex(@"^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]\z")]
    private static partial Regex VolumePath();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,127}\z")]
    private static partial Regex EnvironmentName();
}

/// <summary>Options failed validation; nothing was touched. <see cref="Problems"/> names each bad value and its fix.</summary>
public sealed class InvalidOptionsException(IReadOnlyList<string> problems)
    : Exception("Invalid options (nothing was changed):\n" + string.Join('\n', problems.Select(p => "  " + p)))
{
    /// <summary>One line per problem.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
