using System.Net;
using System.Net.Sockets;
using Pipeline.Configuration;
using Pipeline.IntegrationTests.Credentials;
using Pipeline.Snapshots;

namespace Pipeline.IntegrationTests.BadInput;

/// <summary>
/// One bad input at a time, on top of a service that is already live: the real pipeline runs in-process and must
/// fail before it changes anything, with a message that names the bad value and the fix. A Dockerfile whose build
/// fails is not bad input (the fault matrix covers it).
/// </summary>
[NonParallelizable]
public sealed class BadInputTests
{
    private const string Version = "2.0.0";
    private static readonly Dictionary<string, Func<BadInputTests, Arrangement>> Cases = new()
    {
        // The service folder
        ["missing Dockerfile"] = t => t.WithFolder(dir => File.Delete(Path.Combine(dir, "Dockerfile")),
            dir => $"--service-dir={dir}: no readable Dockerfile at {dir}/Dockerfile; add one or point --service-dir at the service's folder"),
        ["missing Dockerfile.tests"] = t => t.WithFolder(dir => File.Delete(Path.Combine(dir, "Dockerfile.tests")),
            dir => $"--service-dir={dir}: no readable Dockerfile.tests at {dir}/Dockerfile.tests; add one (its container runs the tests selected by TEST_TYPE)"),
        // Root reads any file whatever its mode bits (tests run as root), so chmod 000 cannot make a Dockerfile
        // unreadable here; a folder named Dockerfile and a dangling symlink are unreadable for root too.
        ["Dockerfile that is a folder"] = t => t.WithFolder(
            dir =>
            {
                File.Delete(Path.Combine(dir, "Dockerfile"));
                Directory.CreateDirectory(Path.Combine(dir, "Dockerfile"));
            },
            dir => $"--service-dir={dir}: no readable Dockerfile at {dir}/Dockerfile; add one or point --service-dir at the service's folder"),
        ["Dockerfile that is a dangling symlink"] = t => t.WithFolder(
            dir =>
            {
                File.Delete(Path.Combine(dir, "Dockerfile"));
                File.CreateSymbolicLink(Path.Combine(dir, "Dockerfile"), Path.Combine(dir, "gone"));
            },
            dir => $"--service-dir={dir}: no readable Dockerfile at {dir}/Dockerfile; add one or point --service-dir at the service's folder"),
        ["service folder that does not exist"] = t => t.With(o => o with { ServiceDirectory = "/nonexistent/service" },
            "--service-dir=/nonexistent/service: the folder does not exist; point it at the folder holding the service's Dockerfile and Dockerfile.tests"),

        // Image tag and image registry
        ["version with a space"] = t => t.With(o => o with { Version = "2.0 beta" },
            "--release-version=2.0 beta: a version is an image tag: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (the proxy shows it in a header); e.g. --release-version=1.4.0"),
        ["version with a leading dash"] = t => t.With(o => o with { Version = "-rc1" },
            "--release-version=-rc1: a version is an image tag: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (the proxy shows it in a header); e.g. --release-version=1.4.0"),
        ["version the proxy's header rules refuse"] = t => t.With(o => o with { Version = "_rc1" },
            "--release-version=_rc1: a version is an image tag: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (the proxy shows it in a header); e.g. --release-version=1.4.0"),
        ["version of 129 characters"] = t => t.With(o => o with { Version = new string('9', 129) },
            $"--release-version={new string('9', 129)}: a version is an image tag: 1-128 letters"),
        ["image registry with a scheme"] = t => t.Args(["--image-registry=http://127.0.0.1:5000"],
            "--image-registry=http://127.0.0.1:5000: an image registry is host[:port]; e.g. --image-registry=127.0.0.1:5000"),
        ["image registry with an uppercase path"] = t => t.Args(["--image-registry=127.0.0.1:5000/Team"],
            "--image-registry=127.0.0.1:5000/Team: an image registry is host[:port]; e.g. --image-registry=127.0.0.1:5000"),
        ["unreachable image registry"] = t => t.FreePortArgs(port => [$"--image-registry=127.0.0.1:{port}"],
            port => $"--image-registry=127.0.0.1:{port}: the image registry does not answer GET /v2/ (connection refused); start it or set --image-registry=HOST:PORT"),
        ["image registry that is no registry"] = t => t.Args([$"--image-registry={TestEnvironment.Etcd.Authority}"],
            $"--image-registry={TestEnvironment.Etcd.Authority}: GET http://{TestEnvironment.Etcd.Authority}/v2/ answered 404 without Docker-Distribution-API-Version: registry/2.0, so it is no image registry; set --image-registry=HOST:PORT of a registry"),
        ["wrong registry credentials"] = t => t.With(
            o => o with { ImageRegistry = t._auth.Address, RegistryUsername = t._auth.User, RegistryPassword = "not-" + t._auth.Password },
            $"wrong registry credentials for user {t._auth.User} at {t._auth.Address}: GET http://{t._auth.Address}/v2/ answered 401 Unauthorized; check --registry-username and PIPELINE_REGISTRY_PASSWORD"),
        ["registry that needs credentials, none given"] = t => t.Args([$"--image-registry={t._auth.Address}"],
            $"--image-registry={t._auth.Address}: the registry asks for credentials (GET http://{t._auth.Address}/v2/ answered 401); set --registry-username and PIPELINE_REGISTRY_PASSWORD"),
        ["registry user without password"] = t => t.Args(["--registry-username=ci"],
            "--registry-username and PIPELINE_REGISTRY_PASSWORD: set both or neither"),

        // Engines and the service registry
        ["unreachable CD engine"] = t => t.Args(["--docker-host=unix:///nonexistent.sock"],
            "CD engine unix:///nonexistent.sock: does not answer (no socket at /nonexistent.sock); start dockerd there or set --docker-host=unix:///var/run/docker.sock (or DOCKER_HOST)"),
        ["unreachable production engine"] = t => t.FreePortArgs(port => [$"--production-docker-host=tcp://127.0.0.1:{port}"],
            port => $"production engine tcp://127.0.0.1:{port}/: does not answer (connection refused); start dockerd there or set --production-docker-host=tcp://HOST:2376 (or PRODUCTION_DOCKER_HOST)"),
        ["docker host that is no URL"] = t => t.Args(["--docker-host=/var/run/docker.sock"],
            "DOCKER_HOST=/var/run/docker.sock: '/var/run/docker.sock' is not a Docker host: it has no scheme. Use unix:///var/run/docker.sock or tcp://host:2376."),
        ["unreachable etcd"] = t => t.FreePortArgs(port => [$"--registry-endpoints=http://127.0.0.1:{port}"],
            port => $"--registry-endpoints=http://127.0.0.1:{port}: Could not reach etcd at http://127.0.0.1:{port} to check its status: connection refused. Start etcd or set --registry-endpoints"),
        ["registry endpoint without scheme"] = t => t.Args(["--registry-endpoints=127.0.0.1:2379"],
            "--registry-endpoints=127.0.0.1:2379: '127.0.0.1:2379' is not an absolute URL; e.g. --registry-endpoints=http://127.0.0.1:2379"),
        ["unknown registry kind"] = t => t.Args(["--registry=zookeeper"],
            "--registry=zookeeper: unknown service registry; use --registry=etcd or --registry=consul"),

        // The proxy
        ["proxy port already in use"] = t => t.HeldPort(port => $"127.0.0.1:{port} is already in use by another program (address already in use); choose --proxy-port (or stop that program)"),
        ["unknown proxy kind"] = t => t.Args(["--proxy=traefik"], "--proxy=traefik: unknown proxy kind; use --proxy=haproxy or --proxy=nginx"),
        ["proxy port out of range"] = t => t.Args(["--proxy-port=70000"], "--proxy-port=70000: must be a port number 1-65535; e.g. --proxy-port=8080"),
        ["service port zero"] = t => t.Args(["--service-port=0"], "--service-port=0: must be a port number 1-65535; e.g. --service-port=8080"),
        ["proxy port not a number"] = t => t.Args(["--proxy-port=eighty"], "--proxy-port=eighty: not a whole number; e.g. --proxy-port=8080"),
        ["proxy address that is no IP"] = t => t.Args(["--proxy-address=localhost:80"], "--proxy-address=localhost:80: must be an IP address; e.g. --proxy-address=127.0.0.1"),
        ["proxy container name with a space"] = t => t.Args(["--proxy-container=my proxy"], "--proxy-container=my proxy: a container name is letters, digits and _ . -; e.g. --proxy-container=pipeline-proxy"),
        ["network name with a slash"] = t => t.Args(["--network=net/work"], "--network=net/work: a network name is letters, digits and _ . -; e.g. --network=pipeline"),
        ["proxy image that is not there"] = t => t.MissingProxyImage(),
        ["proxy image with uppercase"] = t => t.Args(["--proxy-image=Proxy:Latest"], "--proxy-image=Proxy:Latest: repository 'Proxy' must be lowercase letters, digits and separators (. _ - /); e.g. --proxy-image=127.0.0.1:5000/pipeline/proxy:bookworm-2"),
        ["missing proxy template file"] = t => t.Args(["--proxy-template=/nonexistent/haproxy.cfg.liquid"],
            "--proxy-template=/nonexistent/haproxy.cfg.liquid: the file does not exist or cannot be read"),
        ["proxy template that is not Liquid"] = t => t.BadTemplate(),

        // Injection into names, routes and host names
        ["service name with a semicolon"] = t => t.Args(["--service=api;evil"], "--service=api;evil: a service name is 1-63 lowercase letters, digits and dashes, starting with a letter or digit; set --service=NAME"),
        ["service name with a brace"] = t => t.Args(["--service=api}"], "--service=api}: a service name is 1-63 lowercase letters"),
        ["service name with a newline"] = t => t.With(o => o with { Service = "api\nserver evil" }, "--service=api\\nserver evil: a service name is 1-63 lowercase letters"),
        ["service name with a space"] = t => t.Args(["--service=Shop API"], "--service=Shop API: a service name is 1-63 lowercase letters"),
        ["route with a semicolon"] = t => t.Args(["--route=/api;return 200"], "--route=/api;return 200: a route is a path prefix of letters, digits and . _ ~ / -, starting with '/'; e.g. --route=/api"),
        ["route with a brace"] = t => t.Args(["--route=/a}b"], "--route=/a}b: a route is a path prefix of letters"),
        ["route with a newline"] = t => t.With(o => o with { Route = "/a\nserver {" }, "--route=/a\\nserver {: a route is a path prefix of letters"),
        ["route with a space"] = t => t.Args(["--route=/a b"], "--route=/a b: a route is a path prefix of letters"),
        ["host name with a semicolon"] = t => t.Args(["--host-name=evil.test;"], "--host-name=evil.test;: a host name is lowercase labels of letters, digits and dashes separated by dots; e.g. --host-name=api.example.test"),
        ["host name with a brace"] = t => t.Args(["--host-name=evil.test}"], "--host-name=evil.test}: a host name is lowercase labels"),
        ["host name with a newline"] = t => t.With(o => o with { HostName = "a.test\nserver_name evil" }, "--host-name=a.test\\nserver_name evil: a host name is lowercase labels"),
        ["health path without slash"] = t => t.Args(["--health-path=health"], "--health-path=health: must be a path starting with '/'; e.g. --health-path=/health"),
        ["key prefix with a space"] = t => t.Args(["--key-prefix=Pipeline Keys"], "--key-prefix=Pipeline Keys: lowercase letters, digits and / _ -; e.g. --key-prefix=pipeline"),

        // Timeouts
        ["negative health timeout"] = t => t.Args(["--health-timeout=-5"], "--health-timeout=-5: must be a positive number of seconds (at most a day); e.g. --health-timeout=60"),
        ["zero test timeout"] = t => t.Args(["--test-timeout=0"], "--test-timeout=0: must be a positive number of seconds (at most a day); e.g. --test-timeout=600"),
        ["switch timeout that is no number"] = t => t.Args(["--switch-timeout=soon"], "--switch-timeout=soon: not a number of seconds; e.g. --switch-timeout=30"),
        ["negative undo timeout"] = t => t.Args(["--undo-timeout=-1"], "--undo-timeout=-1: must be a positive number of seconds (at most a day); e.g. --undo-timeout=60"),

        // Volumes
        ["volume without a path"] = t => t.Args(["--volume=data"], "--volume=data: 'data' is not NAME:/path; e.g. --volume=data:/var/lib/app"),
        ["volume with a relative path"] = t => t.Args(["--volume=data:var/lib"], "--volume=data:var/lib: a volume is NAME:/absolute/path"),
        ["volume path escaping with .."] = t => t.Args(["--volume=data:/srv/../etc"], "--volume=data:/srv/../etc: a volume is NAME:/absolute/path"),
        ["volume name with uppercase"] = t => t.Args(["--volume=Data:/srv/data"], "--volume=Data:/srv/data: a volume is NAME:/absolute/path"),
        ["two volumes with one name"] = t => t.Args(["--volume=data:/a", "--volume=data:/b"], "--volume=data: the volume name is given more than once; give each volume its own name"),
    };

    private PipelineHarness _harness = null!;
    private AuthRegistry _auth = null!;
    private string _service = null!;
    private string _liveDir = null!;
    private ProductionSnapshot _before = null!;
    private readonly List<IDisposable> _held = [];

    public static IEnumerable<TestCaseData> CaseNames => Cases.Keys.Select(name => new TestCaseData(name).SetArgDisplayNames(name));

    [OneTimeSetUp]
    public async Task DeployOnce()
    {
        _harness = new PipelineHarness("haproxy");
        _auth = await AuthRegistry.StartAsync("ci-bot", "s3cret-" + Guid.NewGuid().ToString("N")[..8]);
        _service = TestEnvironment.UniqueName("bad");
        _liveDir = _harness.CreateService(_service);
        PipelineHarness.Run(_harness.OptionsFor(_liveDir, "1.0.0")).ShouldBe(0, "the live release deploys");
        _before = await _harness.SnapshotAsync(_service);
    }

    [OneTimeTearDown]
    public void RemoveEverything()
    {
        _auth?.Dispose();
        _harness?.Dispose();
    }

    [TearDown]
    public void ReleaseHeld()
    {
        _held.ForEach(h => h.Dispose());
        _held.Clear();
    }

    [TestCaseSource(nameof(CaseNames))]
    public async Task Should_Fail_Naming_The_Value_And_The_Fix_Without_Changing_Production(string badInput)
    {
        // Given a live service and one bad input
        var arrangement = Cases[badInput](this);

        // When the next version is deployed with it
        var run = CapturedPipeline.Run(arrangement.Options, arrangement.Arguments);

        // Then the run fails, says what is wrong and how to fix it, and production is exactly as it was
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain(arrangement.Expected, Case.Sensitive);
        (await _harness.SnapshotAsync(_service)).Diff(_before).ShouldBeEmpty();
        (await _harness.GetThroughProxyAsync()).Body.ShouldContain("1.0.0");
    }

    [Test]
    public async Task Should_Find_No_Problem_When_Everything_Answers_And_The_Port_Is_Our_Own_Proxys()
    {
        // Given the live service: its proxy publishes the port the next deploy asks for
        using var engine = new Pipeline.Docker.DockerEngine(TestEnvironment.Docker);
        using var registry = Pipeline.Registry.ServiceRegistries.Create(TestEnvironment.Defaults);
        var checks = new Pipeline.Preflight.PreflightChecks(Next, () => engine, () => engine, () => registry);

        // When the preflight runs
        var problems = await checks.RunAsync();

        // Then it finds nothing to complain about
        problems.ShouldBeEmpty();
    }

    private DeploymentOptions Next => _harness.OptionsFor(_liveDir, Version) with { Service = _service };

    private Arrangement With(Func<DeploymentOptions, DeploymentOptions> change, string expected) => new(change(Next), [], expected);

    private Arrangement Args(string[] arguments, string expected) => new(Next, arguments, expected);

    private Arrangement FreePortArgs(Func<int, string[]> arguments, Func<int, string> expected)
    {
        var port = TestEnvironment.FreePort();
        return new(Next, arguments(port), expected(port));
    }

    private Arrangement WithFolder(Action<string> spoil, Func<string, string> expected)
    {
        var dir = _harness.CreateService(TestEnvironment.UniqueName("folder"));
        spoil(dir);
        return new(Next with { ServiceDirectory = dir }, [], expected(dir));
    }

    private Arrangement HeldPort(Func<int, string> expected)
    {
        // Another program listens on a port; the deploy asks for it under a proxy container that does not exist yet.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _held.Add(new Releaser(listener.Stop));
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return new(Next with { ProxyPort = port, ProxyContainer = TestEnvironment.UniqueName("no-proxy") }, [], expected(port));
    }

    private Arrangement MissingProxyImage()
    {
        var image = $"{TestEnvironment.ImageRegistry}/pipeline/{TestEnvironment.UniqueName("no-such-proxy")}:none";
        var container = TestEnvironment.UniqueName("no-proxy");
        return new(
            Next with { ProxyImage = image, ProxyContainer = container, ProxyPort = TestEnvironment.FreePort() },
            [],
            $"--proxy-image={image}: the image is neither on the production engine unix:///var/run/docker.sock nor in its registry (HEAD http://{TestEnvironment.ImageRegistry}/v2/{image[(TestEnvironment.ImageRegistry.Length + 1)..^5]}/manifests/none answered 404); build it with ./build.sh --target=ProvisionLocalServices or set --proxy-image");
    }

    private Arrangement BadTemplate()
    {
        var template = Path.Combine(_liveDir, "..", TestEnvironment.UniqueName("template") + ".liquid");
        File.WriteAllText(template, "global\n{% for route in routes %}\nbackend {{ route.id }\n");
        var full = Path.GetFullPath(template);
        return new(Next with { ProxyTemplate = full }, [], $"--proxy-template={full}: fix the template, or leave --proxy-template out for the built-in one. Proxy template {full}: End of tag '}}}}' was expected at (3:20)");
    }

    private sealed record Arrangement(DeploymentOptions Options, string[] Arguments, string Expected);

    private sealed class Releaser(Action release) : IDisposable
    {
        public void Dispose() => release();
    }
}
