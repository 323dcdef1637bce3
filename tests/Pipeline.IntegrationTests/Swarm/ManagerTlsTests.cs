using System.Net;
using Pipeline.Docker;
using Pipeline.Provisioning.Swarm;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// The production engine reached only over TCP with verified mutual TLS: the test swarm's manager runs
/// dockerd --tlsverify with certificates from the local CA ProvisionSwarm made.
/// </summary>
[TestFixture]
[Order(1)]
public sealed class ManagerTlsTests
{
    private readonly List<string> _folders = [];

    [TearDown]
    public void RemoveFolders()
    {
        foreach (var folder in _folders)
        {
            Directory.Delete(folder, true);
        }

        _folders.Clear();
    }

    private static string ManagerHost => TestSwarm.Options.ManagerApi.ToString().TrimEnd('/');

    private static string ClientCerts => TestSwarm.Options.ClientCertPath;

    private static string SwarmCa => Path.Combine(ClientCerts, "ca.pem");

    /// <summary>A certificate folder: ca.pem from <paramref name="caFrom"/>, cert.pem and key.pem from <paramref name="clientFrom"/>.</summary>
    private string CertFolder(string caFrom, string clientFrom)
    {
        var folder = Directory.CreateTempSubdirectory("pipeline-swarm-tls-").FullName;
        _folders.Add(folder);
        File.Copy(caFrom, Path.Combine(folder, "ca.pem"));
        File.Copy(Path.Combine(clientFrom, "cert.pem"), Path.Combine(folder, "cert.pem"));
        File.Copy(Path.Combine(clientFrom, "key.pem"), Path.Combine(folder, "key.pem"));
        return folder;
    }

    /// <summary>A CA nobody else uses, and a client certificate it signed; returns the folder (ca.pem, cert.pem, key.pem).</summary>
    private string OtherCa()
    {
        var folder = Directory.CreateTempSubdirectory("pipeline-other-ca-").FullName;
        _folders.Add(folder);
        using var ca = LocalCertificateAuthority.LoadOrCreate(folder, "some other CA", TimeSpan.FromDays(2), TimeSpan.Zero, TimeProvider.System, out _);
        ca.IssueClient("pipeline", TimeSpan.FromDays(1), Path.Combine(folder, "cert.pem"), Path.Combine(folder, "key.pem"));
        return folder;
    }

    [Test]
    public async Task Should_Reach_The_Manager_Over_Mutual_Tls_From_Production_Variables()
    {
        // Given
        var endpoint = DockerEndpoint.FromEnvironment(new Dictionary<string, string>
        {
            ["PRODUCTION_DOCKER_HOST"] = ManagerHost,
            ["PRODUCTION_DOCKER_TLS_VERIFY"] = "1",
            ["PRODUCTION_DOCKER_CERT_PATH"] = ClientCerts,
        }.GetValueOrDefault, "PRODUCTION_");
        using var engine = new DockerEngine(endpoint);

        // When
        var version = await engine.PingAsync();
        var swarm = await engine.GetSwarmInfoAsync();

        // Then
        endpoint.TlsVerify.ShouldBeTrue();
        version.ShouldEndWith("(API 1.41)");
        swarm.IsManager.ShouldBeTrue();
    }

    [Test]
    public async Task Should_Refuse_The_Manager_When_Its_Certificate_Was_Signed_By_Another_Ca()
    {
        // Given
        var other = OtherCa();
        var folder = CertFolder(Path.Combine(other, "ca.pem"), ClientCerts);
        using var engine = new DockerEngine(DockerEndpoint.Parse(ManagerHost, tlsVerify: true, certPath: folder));

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => engine.PingAsync());

        // Then
        error.Message.ShouldBe(
            $"The TLS handshake with the Docker engine at {ManagerHost}/ (TLS) failed while checking the engine: the engine's certificate (CN=swarm-node1, issued by CN=Pipeline test swarm CA) does not chain to a CA in {folder}/ca.pem (CN=some other CA)."
            + $" Put the CA that signed the engine's certificate into {folder}/ca.pem (DOCKER_CERT_PATH), or point DOCKER_CERT_PATH at the folder made for this engine.");
    }

    [Test]
    public async Task Should_Refuse_The_Manager_When_Reached_By_A_Name_Its_Certificate_Does_Not_List()
    {
        // Given
        var manager = TestSwarm.Options.Node(1).Address;
        await using var relay = new TcpRelay(new IPEndPoint(manager, TestSwarm.Options.ManagerApiPort));
        using var engine = new DockerEngine(DockerEndpoint.Parse($"tcp://127.0.0.1:{relay.Port}", tlsVerify: true, certPath: ClientCerts));

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => engine.PingAsync());

        // Then
        error.Message.ShouldBe(
            $"The TLS handshake with the Docker engine at tcp://127.0.0.1:{relay.Port}/ (TLS) failed while checking the engine: the engine's certificate (CN=swarm-node1, issued by CN=Pipeline test swarm CA) is for swarm-node1, {manager}, not 127.0.0.1."
            + " Connect with a name or address the certificate lists (DOCKER_HOST), or reissue the engine's certificate for this one.");
    }

    [Test]
    public async Task Should_Be_Refused_By_The_Manager_When_Our_Client_Certificate_Comes_From_Another_Ca()
    {
        // Given
        var folder = CertFolder(SwarmCa, OtherCa());
        using var engine = new DockerEngine(DockerEndpoint.Parse(ManagerHost, tlsVerify: true, certPath: folder));

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => engine.PingAsync());

        // Then
        error.Message.ShouldStartWith($"The Docker engine at {ManagerHost}/ (TLS) ended the connection right after the TLS handshake while checking the engine (");
        error.Message.ShouldEndWith($"): it refuses our client certificate. Check that {folder}/cert.pem is a client certificate signed by a CA the engine trusts (dockerd --tlscacert).");
    }

    [Test]
    public async Task Should_Be_Refused_By_The_Manager_Without_A_Client_Certificate()
    {
        // Given: an HTTPS client that trusts the swarm's CA but has no certificate of its own
        using var ca = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(SwarmCa);
        var handler = new SocketsHttpHandler { UseProxy = false };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
            chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
            return certificate is not null && chain.Build(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var url = new Uri($"https://{TestSwarm.Options.Node(1).Address}:{TestSwarm.Options.ManagerApiPort}/_ping");

        // When
        var error = await Should.ThrowAsync<HttpRequestException>(() => client.GetStringAsync(url));

        // Then
        error.GetBaseException().Message.ShouldContain("certificate", Case.Insensitive);
    }
}
