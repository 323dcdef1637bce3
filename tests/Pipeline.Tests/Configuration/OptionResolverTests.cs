using System.Diagnostics;
using Pipeline.Configuration;

namespace Pipeline.Tests.Configuration;

public sealed class OptionResolverTests
{
    private string _serviceDir = null!;

    [SetUp]
    public void CreateServiceFolder()
    {
        _serviceDir = Path.Combine(Path.GetTempPath(), "pipeline-options-" + Guid.NewGuid().ToString("N")[..8], "shop-api");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
    }

    [TearDown]
    public void RemoveServiceFolder() => Directory.Delete(Path.GetDirectoryName(_serviceDir)!, recursive: true);

    private DeploymentOptions Resolve(Dictionary<string, string>? arguments = null, Dictionary<string, string>? environment = null, DeploymentOptions? code = null) =>
        OptionResolver.Resolve(
            code ?? new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0" },
            name => arguments?.GetValueOrDefault(name),
            name => environment?.GetValueOrDefault(name),
            "/");

    [Test]
    public void Should_Default_Service_Name_To_Folder_Name()
    {
        // Given options from code naming only the folder / When resolved
        var options = Resolve();

        // Then the service is named after its folder
        options.Service.ShouldBe("shop-api");
    }

    [Test]
    public void Should_Default_The_Service_Folder_To_The_Working_Directory()
    {
        // Given options from code that name no folder / When resolved in the service's folder
        var options = OptionResolver.Resolve(new DeploymentOptions { Version = "1.0.0" }, _ => null, _ => null, _serviceDir);

        // Then the working directory is the service folder, and names the service
        options.ServiceDirectory.ShouldBe(_serviceDir);
        options.Service.ShouldBe("shop-api");
    }

    [Test]
    public void Should_Leave_An_Unset_Version_For_The_Run_To_Find()
    {
        var options = Resolve(code: new DeploymentOptions { ServiceDirectory = _serviceDir });

        options.Version.ShouldBeNull();
    }

    [Test]
    public async Task Should_Take_The_Default_Version_From_Git_Describe_Without_The_Leading_V()
    {
        // Given the service folder is a git repository whose commit is tagged v2.3.4
        Git("init", "-q");
        Git("add", ".");
        Git("-c", "user.email=test@example.invalid", "-c", "user.name=test", "commit", "-q", "-m", "first");
        Git("tag", "v2.3.4");

        // When / Then
        (await OptionResolver.DefaultVersionAsync(_serviceDir, TimeSpan.FromSeconds(30))).ShouldBe("2.3.4");
    }

    [Test]
    public async Task Should_Fall_Back_To_The_Local_Version_Outside_A_Git_Repository()
    {
        // Given a folder in no repository (the temp folder's tree has none)
        var outside = Path.GetDirectoryName(_serviceDir)!;

        // When / Then
        (await OptionResolver.DefaultVersionAsync(outside, TimeSpan.FromSeconds(30))).ShouldBe(OptionResolver.FallbackVersion);
        OptionResolver.FallbackVersion.ShouldBe("0.0.0-local");
    }

    private void Git(params string[] arguments)
    {
        var start = new ProcessStartInfo("git", arguments) { WorkingDirectory = _serviceDir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["GIT_CEILING_DIRECTORIES"] = Path.GetTempPath();
        using var git = Process.Start(start)!;
        var errors = git.StandardError.ReadToEnd();
        git.WaitForExit();
        git.ExitCode.ShouldBe(0, $"git {string.Join(' ', arguments)}: {errors}");
    }

    [Test]
    public void Should_Let_Command_Line_Override_Environment_Override_Code()
    {
        // Given the same option set in code, in the environment and on the command line
        var code = new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0", ProxyPort = 1000 };

        // When resolved with and without the command-line value
        var fromEnvironment = Resolve(environment: new() { ["PIPELINE_PROXY_PORT"] = "2000" }, code: code);
        var fromArgument = Resolve(new() { ["proxy-port"] = "3000" }, new() { ["PIPELINE_PROXY_PORT"] = "2000" }, code);

        // Then the environment beats code and the command line beats both
        fromEnvironment.ProxyPort.ShouldBe(2000);
        fromArgument.ProxyPort.ShouldBe(3000);
    }

    [Test]
    public void Should_Read_Production_Engine_From_Prefixed_Docker_Variables()
    {
        // Given DOCKER_HOST-style variables for each engine
        var options = Resolve(environment: new()
        {
            ["DOCKER_HOST"] = "unix:///run/cd.sock",
            ["PRODUCTION_DOCKER_HOST"] = "tcp://127.0.0.1:2375",
        });

        // Then each engine gets its own endpoint
        options.CdEngine.Host.ShouldBe(new Uri("unix:///run/cd.sock"));
        options.ProductionEngine.Host.ShouldBe(new Uri("tcp://127.0.0.1:2375"));
    }

    [TestCase("proxy-port", "70000", "--proxy-port=70000: must be a port number 1-65535")]
    [TestCase("proxy-port", "eighty", "--proxy-port=eighty: not a whole number; e.g. --proxy-port=8080")]
    [TestCase("service-port", "0", "--service-port=0: must be a port number 1-65535")]
    [TestCase("health-timeout", "-5", "--health-timeout=-5: must be a positive number of seconds")]
    [TestCase("test-timeout", "0", "--test-timeout=0: must be a positive number of seconds")]
    [TestCase("switch-timeout", "soon", "--switch-timeout=soon: not a number of seconds")]
    [TestCase("undo-timeout", "-1", "--undo-timeout=-1: must be a positive number of seconds")]
    [TestCase("lock-timeout", "-1", "--lock-timeout=-1: must be a number of seconds from 0 (fail at once when another run holds the lock) to a day; e.g. --lock-timeout=60")]
    [TestCase("lock-timeout", "forever", "--lock-timeout=forever: not a number of seconds; e.g. --lock-timeout=60")]
    [TestCase("lock-ttl", "1", "--lock-ttl=1: must be 2 to 3600 seconds")]
    [TestCase("lock-ttl", "0", "--lock-ttl=0: must be 2 to 3600 seconds")]
    [TestCase("lock-ttl", "86400", "--lock-ttl=86400: must be 2 to 3600 seconds")]
    [TestCase("service", "Shop API", "--service=Shop API: a service name is 1-63 lowercase letters")]
    [TestCase("service", "api;evil", "--service=api;evil: a service name is")]
    [TestCase("service", "api}", "--service=api}: a service name is")]
    [TestCase("service", "api\nserver evil", "--service=api\\nserver evil: a service name is")]
    [TestCase("release-version", "1.0 beta", "--release-version=1.0 beta: a version is an image tag")]
    [TestCase("release-version", "-rc1", "--release-version=-rc1: a version is an image tag")]
    [TestCase("route", "api", "--route=api: a route is a path prefix")]
    [TestCase("route", "/api;return 200", "--route=/api;return 200: a route is a path prefix")]
    [TestCase("route", "/a}b", "--route=/a}b: a route is a path prefix")]
    [TestCase("route", "/a b", "--route=/a b: a route is a path prefix")]
    [TestCase("host-name", "evil.test;", "--host-name=evil.test;: a host name is")]
    [TestCase("host-name", "Bad_Host", "--host-name=Bad_Host: a host name is")]
    [TestCase("health-path", "health", "--health-path=health: must be a path starting with '/'")]
    [TestCase("image-registry", "http://127.0.0.1:5000", "--image-registry=http://127.0.0.1:5000: an image registry is host[:port]")]
    [TestCase("image-registry", "bad registry", "--image-registry=bad registry: an image registry is host[:port]")]
    [TestCase("registry", "zookeeper", "--registry=zookeeper: unknown service registry; use --registry=etcd or --registry=consul")]
    [TestCase("registry-endpoints", "127.0.0.1:2379", "--registry-endpoints=")]
    [TestCase("registry-endpoints", "ftp://127.0.0.1:2379", "--registry-endpoints=ftp://127.0.0.1:2379: give one or more http(s) URLs")]
    [TestCase("proxy", "traefik", "--proxy=traefik: unknown proxy kind; use --proxy=haproxy or --proxy=nginx")]
    [TestCase("proxy-address", "localhost:80", "--proxy-address=localhost:80: must be an IP address")]
    [TestCase("proxy-container", "my proxy", "--proxy-container=my proxy: a container name is")]
    [TestCase("network", "net/work", "--network=net/work: a network name is")]
    [TestCase("proxy-image", "Proxy:Latest", "--proxy-image=Proxy:Latest: repository 'Proxy' must be lowercase")]
    [TestCase("proxy-image", "proxy:bad tag", "--proxy-image=proxy:bad tag: tag 'bad tag' must be")]
    [TestCase("proxy-template", "/nonexistent/haproxy.cfg.liquid", "--proxy-template=/nonexistent/haproxy.cfg.liquid: the file does not exist or cannot be read")]
    [TestCase("key-prefix", "Pipeline Keys", "--key-prefix=Pipeline Keys: lowercase letters")]
    [TestCase("service-dir", "/nonexistent/service", "--service-dir=/nonexistent/service: the folder does not exist")]
    [TestCase("replicas", "0", "--replicas=0: a release runs 1 to 100 replicas; e.g. --replicas=2")]
    [TestCase("replicas", "101", "--replicas=101: a release runs 1 to 100 replicas; e.g. --replicas=2")]
    [TestCase("replicas", "two", "--replicas=two: not a whole number; e.g. --replicas=2")]
    [TestCase("orchestrator", "kubernetes", "--orchestrator=kubernetes: unknown orchestrator; use")]
    [TestCase("endpoint-mode", "ipvs", "--endpoint-mode=ipvs: unknown endpoint mode; use --endpoint-mode=dnsrr or --endpoint-mode=vip")]
    [TestCase("probe-image", "Probe:Latest", "--probe-image=Probe:Latest: repository 'Probe' must be lowercase")]
    public void Should_Name_The_Bad_Value_And_The_Fix_When_An_Option_Is_Invalid(string option, string value, string expected)
    {
        // Given one bad command-line value / When the options are resolved
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { [option] = value }));

        // Then the problem names the option, its value and what to do
        error.Problems.ShouldHaveSingleItem().ShouldStartWith(expected);
        error.Message.ShouldStartWith("Invalid options (nothing was changed):");
    }

    [Test]
    public void Should_Read_The_Release_Runtime_Options_From_The_Command_Line()
    {
        // Given the runtime options on the command line / When resolved
        var options = Resolve(new() { ["replicas"] = "3", ["orchestrator"] = "containers", ["probe-image"] = "127.0.0.1:5000/pipeline/probe:1", ["endpoint-mode"] = "vip" });

        // Then each is taken (they were once dropped from the option table by a merge)
        options.Replicas.ShouldBe(3);
        options.Orchestrator.ShouldBe(Pipeline.Runtime.OrchestratorKind.Containers);
        options.ProbeImage.ShouldBe("127.0.0.1:5000/pipeline/probe:1");
        options.EndpointMode.ShouldBe(Pipeline.Docker.SwarmEndpointMode.Vip);
    }

    [TestCase("data", "--volume=data: 'data' is not NAME:/path; e.g. --volume=data:/var/lib/app")]
    [TestCase("data:srv", "--volume=data:srv: a volume is NAME:/absolute/path")]
    [TestCase("data:/", "--volume=data:/: a volume is NAME:/absolute/path")]
    [TestCase("data:/a/../etc", "--volume=data:/a/../etc: a volume is NAME:/absolute/path")]
    [TestCase("data:/a b", "--volume=data:/a b: a volume is NAME:/absolute/path")]
    [TestCase("da;ta:/srv", "--volume=da;ta:/srv: a volume is NAME:/absolute/path")]
    [TestCase("data:/a,data:/b", "--volume=data: the volume name is given more than once")]
    [TestCase("a:/srv,b:/srv", "--volume=…:/srv: two volumes are mounted at the same path")]
    public void Should_Name_The_Bad_Volume_And_The_Fix(string value, string expected)
    {
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["volume"] = value }));

        error.Problems.ShouldHaveSingleItem().ShouldStartWith(expected);
    }

    [Test]
    public void Should_Read_Release_Environment_Values_From_The_Environment_Only()
    {
        // Given names on the command line and in PIPELINE_RELEASE_ENV, values in the pipeline's environment
        var code = new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0", ReleaseEnvironment = new Dictionary<string, string> { ["LOG_LEVEL"] = "info" } };
        var environment = new Dictionary<string, string> { ["DATABASE_URL"] = "postgres://app:pw-123456@db/app", ["FEATURE"] = "on", ["PIPELINE_RELEASE_ENV"] = "FEATURE" };

        // When resolved
        var fromEnvironment = Resolve(environment: environment, code: code);
        var fromArgument = Resolve(new() { ["release-env"] = "DATABASE_URL, FEATURE" }, environment, code);

        // Then the values come from the environment and add to those from code; printing shows names only
        fromEnvironment.ReleaseEnvironment.ShouldBe(new Dictionary<string, string> { ["LOG_LEVEL"] = "info", ["FEATURE"] = "on" });
        fromArgument.ReleaseEnvironment.ShouldBe(new Dictionary<string, string> { ["LOG_LEVEL"] = "info", ["DATABASE_URL"] = "postgres://app:pw-123456@db/app", ["FEATURE"] = "on" });
        fromArgument.ToString().ShouldContain("ReleaseEnvironment = [LOG_LEVEL=***, DATABASE_URL=***, FEATURE=***]");
        fromArgument.ToString().ShouldNotContain("pw-123456");
        OptionResolver.IsRepeatable("release-env").ShouldBeTrue();
    }

    [TestCase("DATABASE_URL", "--release-env=DATABASE_URL: the pipeline's environment has no DATABASE_URL; export it (its value is read from the environment only, so secrets stay off the command line)")]
    [TestCase("DATABASE_URL=postgres://app:pw@db/app", "--release-env=***: give the variable's name only ('DATABASE_URL'); its value is read from the pipeline's environment so that secrets never appear on a command line; e.g. --release-env=DATABASE_URL")]
    [TestCase("PORT", "--release-env=PORT: the pipeline sets PORT itself (SERVICE_NAME, SERVICE_VERSION, SERVICE_COLOR, SERVICE_ROUTE, PORT, TEST_TYPE, TARGET_URL, TARGET_HOST, PROXY_URL); give your variable another name")]
    [TestCase("1BAD", "--release-env=1BAD: an environment variable name is letters, digits and _, not starting with a digit; e.g. --release-env=DATABASE_URL")]
    public void Should_Name_A_Bad_Release_Variable_Without_Showing_A_Value(string value, string problem)
    {
        // Given the variable in the environment when it is a name
        var environment = new Dictionary<string, string> { ["PORT"] = "1", ["1BAD"] = "x" };

        // When resolved / Then the problem names the variable and the fix, never a value
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["release-env"] = value }, environment));
        error.Problems.ShouldBe([problem]);
        error.Message.ShouldNotContain("pw@");
    }

    [Test]
    public void Should_Read_Volumes_Comma_Separated()
    {
        var options = Resolve(new() { ["volume"] = "data:/srv/data, cache:/var/cache/app" });

        options.Volumes.ShouldBe([new VolumeMount("data", "/srv/data"), new VolumeMount("cache", "/var/cache/app")]);
        OptionResolver.IsRepeatable("volume").ShouldBeTrue();
        OptionResolver.IsRepeatable("proxy-port").ShouldBeFalse();
    }

    [Test]
    public void Should_Reject_A_Folder_Without_Dockerfile_Tests()
    {
        // Given a service folder that has no Dockerfile.tests
        File.Delete(Path.Combine(_serviceDir, "Dockerfile.tests"));

        // When resolved
        var error = Should.Throw<InvalidOptionsException>(() => Resolve());

        // Then the message says which file is missing
        error.Problems.ShouldHaveSingleItem().ShouldContain($"no readable Dockerfile.tests at {Path.Combine(_serviceDir, "Dockerfile.tests")}");
    }

    [Test]
    public void Should_Reject_A_Folder_Name_That_Is_No_Service_Name_Unless_Service_Is_Given()
    {
        // Given a service folder whose name has a space
        var odd = Path.Combine(Path.GetDirectoryName(_serviceDir)!, "My Service");
        Directory.Move(_serviceDir, odd);
        _serviceDir = odd;

        // When resolved with and without --service
        var error = Should.Throw<InvalidOptionsException>(() => Resolve());
        var named = Resolve(new() { ["service"] = "my-service" });

        // Then the default name is refused with the fix, and an explicit name works
        error.Problems.ShouldHaveSingleItem().ShouldContain("set --service=NAME");
        named.Service.ShouldBe("my-service");
    }

    [Test]
    public void Should_Require_Registry_Username_And_Password_Together()
    {
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["registry-username"] = "ci" }));

        error.Problems.ShouldHaveSingleItem().ShouldBe("--registry-username and PIPELINE_REGISTRY_PASSWORD: set both or neither");
    }

    [TestCase("ftp://u:s3cret@files.example.test/x", "--notify=ftp://***@files.example.test/…: the scheme 'ftp' is not http or https")]
    [TestCase("hooks.example.test/T0/s3cret", "--notify=***: not a URL; give an absolute http(s) URL")]
    public void Should_Refuse_A_Notify_Url_That_Is_Not_Http_Without_Showing_Its_Credentials(string value, string expected)
    {
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["notify"] = value }));

        error.Problems.ShouldHaveSingleItem().ShouldStartWith(expected);
        error.Message.ShouldNotContain("s3cret");
    }

    [Test]
    public void Should_Take_Several_Notify_Urls_And_Never_Print_Their_Credentials()
    {
        var options = Resolve(environment: new() { ["PIPELINE_NOTIFY"] = "https://ci:s3cret@hooks.example.test/a,http://127.0.0.1:9/b" });

        options.Notify.Select(u => u.Host).ShouldBe(["hooks.example.test", "127.0.0.1"]);
        options.ToString().ShouldNotContain("s3cret");
        options.ToString().ShouldContain("Notify = [https://***@hooks.example.test/…, http://127.0.0.1:9/…]");
    }

    [Test]
    public void Should_Need_The_Version_To_Redeploy_From_The_Registry()
    {
        Resolve(new() { ["from-registry"] = "" }).FromRegistry.ShouldBeTrue();
        Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["from-registry"] = "true" }, code: new DeploymentOptions { ServiceDirectory = _serviceDir }))
            .Problems.ShouldHaveSingleItem().ShouldStartWith("--from-registry: give the version to redeploy with --release-version=V");
        Resolve(new() { ["from-registry"] = "false" }, code: new DeploymentOptions { ServiceDirectory = _serviceDir }).FromRegistry.ShouldBeFalse();
    }

    [Test]
    public void Should_Leave_The_Service_Port_To_The_Image_Unless_Given()
    {
        Resolve().ServicePort.ShouldBeNull();
        Resolve(new() { ["service-port"] = "80" }).ServicePort.ShouldBe(80);
    }

    [Test]
    public void Should_Never_Show_A_Secret_When_It_Is_Invalid_Elsewhere()
    {
        // Given a password and an invalid option in the same run
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(
            new() { ["proxy-port"] = "-1" },
            new() { ["PIPELINE_REGISTRY_USERNAME"] = "ci", ["PIPELINE_REGISTRY_PASSWORD"] = "s3cr3t-value" }));

        // Then the message does not carry the secret
        error.Message.ShouldNotContain("s3cr3t-value");
    }

    [Test]
    public void Should_List_Every_Problem_At_Once()
    {
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["proxy"] = "apache", ["proxy-port"] = "0", ["route"] = "x" }));

        error.Problems.Count.ShouldBe(3);
    }

    [Test]
    public void Should_Reject_A_Trailing_Newline_Set_From_Code()
    {
        // Given a service name from code that ends with a newline (the command line trims, code does not)
        var code = new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0", Service = "api\n" };

        // When resolved / Then it is refused, shown escaped
        Should.Throw<InvalidOptionsException>(() => Resolve(code: code))
            .Problems.ShouldHaveSingleItem().ShouldStartWith("--service=api\\n: a service name is");
    }
}
