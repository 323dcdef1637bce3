using System.Security.Cryptography.X509Certificates;
using System.Text;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Credentials;
using Pipeline.Preflight;
using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Transport;

/// <summary>
/// The preflight's image registry check never sends credentials in clear: HTTPS whose certificate verifies, plain HTTP
/// only on loopback when the registry does not speak TLS (or when it is listed as insecure), token services only over
/// HTTPS. Against a real docker-registry with TLS from a CA the test makes, and stand-in servers on loopback whose
/// certificates and answers the test picks.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ImageRegistryTransportTests
{
    private const string User = "deployer";
    private readonly string _password = "registry-password-" + Guid.NewGuid().ToString("N")[..8];
    private string _folder = null!;
    private X509Certificate2 _ca = null!;
    private string _caFile = null!;
    private AuthRegistry _tlsRegistry = null!;
    private IDockerEngine _engine = null!;
    private IServiceRegistry _serviceRegistry = null!;

    private string Basic => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{_password}"));

    [OneTimeSetUp]
    public async Task StartTlsRegistry()
    {
        _folder = Directory.CreateTempSubdirectory("pipeline-registry-tls-").FullName;
        _ca = TestCertificates.CreateCa("pipeline registry test CA");
        _caFile = Path.Combine(_folder, "ca.pem");
        TestCertificates.WritePem(_ca, _caFile);
        _tlsRegistry = await AuthRegistry.StartAsync(User, _password, TestCertificates.IssueServer(_ca));
        _engine = new DockerEngine(TestEnvironment.Docker);
        _serviceRegistry = ServiceRegistries.Create(TestEnvironment.Defaults);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _tlsRegistry?.Dispose();
        _engine?.Dispose();
        _serviceRegistry?.Dispose();
        _ca?.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task Should_Check_Credentials_Over_Https_When_The_Certificate_Chains_To_The_Given_Ca()
    {
        // Given a docker-registry with TLS from the test's CA, and that CA given with --image-registry-ca
        var options = Options(_tlsRegistry.Address) with { ImageRegistryCa = _caFile };

        // When the preflight checks the right and a wrong password
        var right = await ImageRegistryProblemsAsync(options);
        var wrong = await ImageRegistryProblemsAsync(options with { RegistryPassword = "not-" + _password });

        // Then the right one passes and the wrong one is named, both over https
        right.ShouldBeEmpty();
        wrong.ShouldHaveSingleItem().ShouldBe(
            $"wrong registry credentials for user {User} at {_tlsRegistry.Address}: GET https://{_tlsRegistry.Address}/v2/ answered 401 Unauthorized; check --registry-username and PIPELINE_REGISTRY_PASSWORD");
    }

    [Test]
    public async Task Should_Name_The_Certificate_Problem_When_The_Ca_Is_Unknown_And_Not_Try_Plain_Http()
    {
        // Given the same registry, its CA not given
        var options = Options(_tlsRegistry.Address);

        // When
        var problems = await ImageRegistryProblemsAsync(options);

        // Then the certificate is named as the problem (today's code retried over http:// and got a 400)
        problems.ShouldHaveSingleItem().ShouldBe(
            $"--image-registry={_tlsRegistry.Address}: the TLS certificate of {_tlsRegistry.Address} was rejected: it chains to a CA that is not trusted here (issuer CN=pipeline registry test CA). "
            + $"Nothing was sent over plain HTTP. Give its CA with --image-registry-ca=PATH (or in /etc/docker/certs.d/{_tlsRegistry.Address}/ca.crt), or, if you accept the risk, --insecure-registry={_tlsRegistry.Address}");
    }

    [Test]
    public async Task Should_Trust_The_Ca_In_Dockers_Certs_Folder_For_The_Registry()
    {
        // Given the CA where Docker looks for it: {certs.d}/{host:port}/ca.crt
        var certsFolder = Path.Combine(_folder, "certs.d");
        Directory.CreateDirectory(Path.Combine(certsFolder, _tlsRegistry.Address));
        File.Copy(_caFile, Path.Combine(certsFolder, _tlsRegistry.Address, "ca.crt"), overwrite: true);

        // When / Then
        (await ImageRegistryProblemsAsync(Options(_tlsRegistry.Address), certsFolder)).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Never_Send_Credentials_In_Clear_When_A_Self_Signed_Certificate_Is_Rejected()
    {
        // Given a stand-in registry on loopback that speaks TLS with a self-signed certificate and would also answer in clear
        using var standIn = new StandInServer(TestCertificates.SelfSigned(), _ => StandInServer.RegistryChallenge("Basic realm=\"stand-in\""));

        // When
        var problems = await ImageRegistryProblemsAsync(Options(standIn.Address));

        // Then the certificate is the problem, and no request (so no password) reached the server in clear
        problems.ShouldHaveSingleItem().ShouldStartWith(
            $"--image-registry={standIn.Address}: the TLS certificate of {standIn.Address} was rejected: it is self-signed (CN=127.0.0.1) and not trusted here. Nothing was sent over plain HTTP.");
        standIn.Requests.ShouldBeEmpty();
        standIn.RejectedHandshakes.ShouldBeGreaterThan(0);
    }

    [Test]
    public async Task Should_Name_A_Certificate_For_Another_Host()
    {
        // Given a stand-in whose certificate (from the trusted CA) names another host
        using var standIn = new StandInServer(TestCertificates.IssueServer(_ca, dnsName: "registry.example.invalid"), _ => StandInServer.RegistryChallenge("Basic realm=\"stand-in\""));

        // When
        var problems = await ImageRegistryProblemsAsync(Options(standIn.Address) with { ImageRegistryCa = _caFile });

        // Then
        problems.ShouldHaveSingleItem().ShouldStartWith(
            $"--image-registry={standIn.Address}: the TLS certificate of {standIn.Address} was rejected: it is not valid for the name 127.0.0.1 (it names registry.example.invalid). Nothing was sent over plain HTTP.");
        standIn.Requests.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Name_An_Expired_Certificate()
    {
        // Given a stand-in whose certificate (from the trusted CA) expired yesterday
        using var standIn = new StandInServer(TestCertificates.IssueServer(_ca, expired: true), _ => StandInServer.RegistryChallenge("Basic realm=\"stand-in\""));

        // When
        var problems = await ImageRegistryProblemsAsync(Options(standIn.Address) with { ImageRegistryCa = _caFile });

        // Then
        problems.ShouldHaveSingleItem().ShouldStartWith($"--image-registry={standIn.Address}: the TLS certificate of {standIn.Address} was rejected: it is outside its validity period (");
        standIn.Requests.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Accept_Any_Certificate_Of_A_Registry_Listed_As_Insecure()
    {
        // Given the self-signed stand-in, listed with --insecure-registry (Docker's meaning: no certificate checks)
        using var standIn = new StandInServer(TestCertificates.SelfSigned(), _ => StandInServer.RegistryChallenge("Basic realm=\"stand-in\""));

        // When
        var problems = await ImageRegistryProblemsAsync(Options(standIn.Address) with { InsecureRegistries = [standIn.Address] });

        // Then the credentials were checked over TLS (the stand-in refuses them)
        problems.ShouldHaveSingleItem().ShouldBe(
            $"wrong registry credentials for user {User} at {standIn.Address}: GET https://{standIn.Address}/v2/ answered 401 Unauthorized; check --registry-username and PIPELINE_REGISTRY_PASSWORD");
        standIn.Requests.ShouldAllBe(r => r.OverTls);
    }

    [Test]
    public async Task Should_Refuse_A_Token_Service_That_Is_Not_Https_Off_Loopback()
    {
        // Given a registry on loopback (plain HTTP is fine there) that sends clients to a token service over http://
        using var standIn = new StandInServer(null, _ => StandInServer.RegistryChallenge("Bearer realm=\"http://auth.example.invalid/token\",service=\"registry\""));

        // When
        var problems = await ImageRegistryProblemsAsync(Options(standIn.Address));

        // Then the credentials are not sent there, and the message says why
        problems.ShouldHaveSingleItem().ShouldBe(
            $"--image-registry={standIn.Address}: the registry sends clients to the token service http://auth.example.invalid/token, which is not HTTPS; the credentials were not sent there. Serve the token service over https:// (or list auth.example.invalid with --insecure-registry if you accept the risk)");
    }

    [Test]
    public async Task Should_Send_Credentials_To_A_Token_Service_On_Loopback()
    {
        // Given a registry and its token service on loopback in clear; the token service accepts the credentials
        var port = 0;
        using var standIn = new StandInServer(null, request => request.Target.StartsWith("/token", StringComparison.Ordinal)
            ? request.Authorization == Basic ? StandInServer.Status(200, "OK") : StandInServer.Status(401, "Unauthorized")
            : StandInServer.RegistryChallenge($"Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"registry\""));
        port = standIn.Port;

        // When
        var right = await ImageRegistryProblemsAsync(Options(standIn.Address));
        var wrong = await ImageRegistryProblemsAsync(Options(standIn.Address) with { RegistryPassword = "not-" + _password });

        // Then
        right.ShouldBeEmpty();
        wrong.ShouldHaveSingleItem().ShouldBe(
            $"wrong registry credentials for user {User} at {standIn.Address}: GET http://{standIn.Address}/token?service=registry answered 401 Unauthorized; check --registry-username and PIPELINE_REGISTRY_PASSWORD");
        standIn.Requests.ShouldContain(r => r.Target == "/token?service=registry" && r.Authorization == Basic);
    }

    private DeploymentOptions Options(string registry) => TestEnvironment.Defaults with
    {
        ImageRegistry = registry,
        RegistryUsername = User,
        RegistryPassword = _password,
        ProxyContainer = TestEnvironment.UniqueName("pipeline-test-no-proxy"),
        ProxyPort = TestEnvironment.FreePort(),
    };

    private async Task<IReadOnlyList<string>> ImageRegistryProblemsAsync(DeploymentOptions options, string? certsFolder = null)
    {
        var checks = new PreflightChecks(options, () => _engine, () => _engine, () => _serviceRegistry, dockerCertsFolder: certsFolder ?? Path.Combine(_folder, "no-certs.d"));
        var problems = await checks.RunAsync();
        return problems.Where(p => p.Contains(options.ImageRegistry, StringComparison.Ordinal)).ToList();
    }
}
