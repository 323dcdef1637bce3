using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;

namespace Pipeline.Tests.Configuration;

/// <summary>Secrets come from the environment or a file, never the command line; engines get TLS unless told otherwise; versions pass the proxy's rules.</summary>
public sealed class SecurityOptionTests
{
    private string _root = null!;
    private string _serviceDir = null!;

    [SetUp]
    public void CreateServiceFolder()
    {
        _root = Directory.CreateTempSubdirectory("pipeline-security-options-").FullName;
        _serviceDir = Path.Combine(_root, "shop-api");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
    }

    [TearDown]
    public void RemoveServiceFolder() => Directory.Delete(_root, recursive: true);

    private DeploymentOptions Resolve(Dictionary<string, string>? arguments = null, Dictionary<string, string>? environment = null, DeploymentOptions? code = null) =>
        OptionResolver.Resolve(
            code ?? new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0" },
            name => arguments?.GetValueOrDefault(name),
            name => environment?.GetValueOrDefault(name),
            _root);

    // ---- Secrets ------------------------------------------------------------------------------------------------

    [TestCase("registry-password", "PIPELINE_REGISTRY_PASSWORD")]
    [TestCase("consul-token", "PIPELINE_CONSUL_TOKEN")]
    [TestCase("etcd-password", "PIPELINE_ETCD_PASSWORD")]
    public void Should_Refuse_A_Secret_On_The_Command_Line_Saying_How_To_Pass_It(string option, string variable)
    {
        // Given a secret given as a command-line option (every user of the machine sees it in ps)
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { [option] = "s3cret-on-the-command-line" }));

        // Then it is refused with the two ways that work, and the value is not shown
        error.Problems.ShouldHaveSingleItem().ShouldBe(
            $"--{option}: a secret on the command line can be read by every user of this machine (ps, /proc), so it is refused; set {variable} in the environment or give --{option}-file=PATH (a file only you can read)");
        error.Message.ShouldNotContain("s3cret-on-the-command-line");
        OptionResolver.IsSecret(option).ShouldBeTrue();
    }

    [Test]
    public void Should_Read_Secrets_From_The_Environment()
    {
        // When
        var options = Resolve(environment: new()
        {
            ["PIPELINE_REGISTRY_USERNAME"] = "ci",
            ["PIPELINE_REGISTRY_PASSWORD"] = "registry-secret",
            ["PIPELINE_CONSUL_TOKEN"] = "consul-secret",
            ["PIPELINE_ETCD_USERNAME"] = "pipeline",
            ["PIPELINE_ETCD_PASSWORD"] = "etcd-secret",
        });

        // Then
        options.RegistryPassword.ShouldBe("registry-secret");
        options.ConsulToken.ShouldBe("consul-secret");
        options.EtcdUsername.ShouldBe("pipeline");
        options.EtcdPassword.ShouldBe("etcd-secret");
        options.ToString().ShouldNotContain("secret");
    }

    [Test]
    public void Should_Read_Secrets_From_Files_Given_On_The_Command_Line_Or_In_The_Environment()
    {
        // Given files holding the secrets (with the trailing newline editors add)
        File.WriteAllText(Path.Combine(_root, "registry.password"), "registry-secret\n");
        File.WriteAllText(Path.Combine(_root, "consul.token"), "consul-secret\r\n");

        // When the registry password file is given on the command line (relative), the token file in the environment
        var options = Resolve(
            new() { ["registry-username"] = "ci", ["registry-password-file"] = "registry.password", ["etcd-username"] = "pipeline", ["etcd-password-file"] = "etcd.password" },
            new() { ["PIPELINE_CONSUL_TOKEN_FILE"] = Path.Combine(_root, "consul.token") });

        // Then their content is the secret; the etcd password file is kept as a path, read when etcd asks (it may not exist yet)
        options.RegistryPassword.ShouldBe("registry-secret");
        options.ConsulToken.ShouldBe("consul-secret");
        options.EtcdPassword.ShouldBeNull();
        options.EtcdPasswordFile.ShouldBe(Path.Combine(_root, "etcd.password"));
    }

    [Test]
    public void Should_Name_A_Secret_File_That_Cannot_Be_Read()
    {
        // When
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["registry-username"] = "ci", ["registry-password-file"] = "/nonexistent/registry.password" }));

        // Then
        error.Problems[0].ShouldStartWith("--registry-password-file=/nonexistent/registry.password: cannot read the file (Could not find a part of the path");
        error.Problems[0].ShouldEndWith("; point it at a readable file that holds only the secret");
    }

    [Test]
    public void Should_Refuse_A_Secret_Given_Both_In_The_Environment_And_As_A_File()
    {
        File.WriteAllText(Path.Combine(_root, "token"), "from-file");

        var error = Should.Throw<InvalidOptionsException>(() => Resolve(
            new() { ["consul-token-file"] = "token" },
            new() { ["PIPELINE_CONSUL_TOKEN"] = "from-environment" }));

        error.Problems.ShouldHaveSingleItem().ShouldBe("PIPELINE_CONSUL_TOKEN and --consul-token-file: both are set; give the secret one way only");
    }

    [Test]
    public void Should_Require_Etcd_User_And_Password_Together()
    {
        Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["etcd-username"] = "pipeline" }))
            .Problems.ShouldHaveSingleItem().ShouldBe("--etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file): set both or neither");
        Should.Throw<InvalidOptionsException>(() => Resolve(environment: new() { ["PIPELINE_ETCD_PASSWORD"] = "x" }))
            .Problems.ShouldHaveSingleItem().ShouldBe("--etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file): set both or neither");
    }

    // ---- Engines ------------------------------------------------------------------------------------------------

    [TestCase("--docker-host", "DOCKER_HOST", "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH")]
    [TestCase("--production-docker-host", "PRODUCTION_DOCKER_HOST", "PRODUCTION_DOCKER_TLS_VERIFY=1 and PRODUCTION_DOCKER_CERT_PATH")]
    public void Should_Refuse_An_Engine_Over_Tcp_Without_Tls_Unless_Allowed(string option, string variable, string fix)
    {
        // Given an engine on another machine over plain tcp (the registry credentials would travel in clear)
        var environment = new Dictionary<string, string> { [variable] = "tcp://docker.example.invalid:2375" };

        // When resolved without and with --allow-insecure-engine
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(environment: environment));
        var allowed = Resolve(new() { ["allow-insecure-engine"] = "true" }, environment);

        // Then it is refused naming the fix, unless explicitly allowed
        error.Problems.ShouldHaveSingleItem().ShouldBe(
            $"{option}=tcp://docker.example.invalid:2375: tcp:// without TLS sends everything to the engine in clear, registry credentials included; set {fix} (ca.pem, cert.pem, key.pem), or accept the risk with --allow-insecure-engine");
        allowed.AllowInsecureEngine.ShouldBeTrue();
    }

    [TestCase("tcp://127.0.0.1:2375")]
    [TestCase("tcp://[::1]:2375")]
    [TestCase("tcp://localhost:2375")]
    public void Should_Accept_An_Engine_Over_Tcp_On_Loopback_Without_Tls(string host)
    {
        // When / Then: loopback traffic never leaves the machine
        Resolve(environment: new() { ["PRODUCTION_DOCKER_HOST"] = host }).ProductionEngine.TlsVerify.ShouldBeFalse();
    }

    [TestCase("0")]
    [TestCase("false")]
    [TestCase("1")]
    public void Should_Turn_Tls_On_For_Both_Engines_With_Any_Non_Empty_Tls_Verify(string verify)
    {
        // Given certificate files and DOCKER_TLS_VERIFY set as the docker CLI reads it
        foreach (var file in DockerEndpoint.TlsFiles)
        {
            File.WriteAllText(Path.Combine(_root, file), "-----BEGIN CERTIFICATE-----\n");
        }

        // When
        var options = Resolve(
            new() { ["docker-host"] = "tcp://docker.example.invalid:2376" },
            new()
            {
                ["DOCKER_TLS_VERIFY"] = verify,
                ["DOCKER_CERT_PATH"] = _root,
                ["PRODUCTION_DOCKER_HOST"] = "tcp://production.example.invalid:2376",
                ["PRODUCTION_DOCKER_TLS_VERIFY"] = verify,
                ["PRODUCTION_DOCKER_CERT_PATH"] = _root,
            });

        // Then both engines verify TLS
        options.CdEngine.TlsVerify.ShouldBeTrue();
        options.ProductionEngine.TlsVerify.ShouldBeTrue();
    }

    // ---- Image registries ---------------------------------------------------------------------------------------

    [Test]
    public void Should_Read_Insecure_Registries_Repeated_Or_Comma_Separated()
    {
        var options = Resolve(new() { ["insecure-registry"] = "registry.internal:5000, 10.0.0.5:5000" });

        options.InsecureRegistries.ShouldBe(["registry.internal:5000", "10.0.0.5:5000"]);
        OptionResolver.IsRepeatable("insecure-registry").ShouldBeTrue();
        Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["insecure-registry"] = "http://registry.internal" }))
            .Problems.ShouldHaveSingleItem().ShouldBe("--insecure-registry=http://registry.internal: an image registry is host[:port]; e.g. --insecure-registry=registry.internal:5000");
        Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["image-registry-ca"] = "/nonexistent/ca.pem" }))
            .Problems.ShouldHaveSingleItem().ShouldBe("--image-registry-ca=/nonexistent/ca.pem: the file does not exist or cannot be read; point it at a PEM file of CA certificates");
    }

    // ---- Versions -----------------------------------------------------------------------------------------------

    [TestCase("_rc1")]
    [TestCase("_")]
    public void Should_Refuse_A_Version_The_Proxy_Would_Refuse_Before_Anything_Runs(string version)
    {
        // Given a version that is a valid image tag but not a value the proxy config may carry
        ImageRef.TryParse($"127.0.0.1:5000/hello:{version}", out _, out _).ShouldBeTrue();
        Should.Throw<ArgumentException>(() => ProxyRouteValidation.Validate(
            [new ProxyRoute("hello", "/", null, "blue", version, [new UpstreamEndpoint("172.18.0.5", 8080)])]));

        // When the options are resolved / Then they are refused already
        Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["release-version"] = version }))
            .Problems.ShouldHaveSingleItem().ShouldStartWith($"--release-version={version}: a version is an image tag: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    [TestCase("1.4.0")]
    [TestCase("2024.11.30_build-7")]
    [TestCase("v1")]
    public void Should_Accept_A_Version_Both_The_Registry_And_The_Proxy_Accept(string version)
    {
        ProxyRouteValidation.Validate([new ProxyRoute("hello", "/", null, "blue", version, [new UpstreamEndpoint("172.18.0.5", 8080)])]);

        Resolve(new() { ["release-version"] = version }).Version.ShouldBe(version);
    }
}
