using System.Security.Cryptography.X509Certificates;
using Pipeline.Docker;

namespace Pipeline.IntegrationTests.Docker;

/// <summary>
/// How the adapter checks an engine's certificate, as the docker CLI does: every CA in ca.pem is trusted, the
/// intermediates the engine sends (or ca.pem holds) complete the chain, the certificate must be valid now and be
/// for server authentication. The engine is the real one behind an in-process TLS front.
/// </summary>
[TestFixture]
public sealed class DockerTlsChainTests
{
    private X509Certificate2 _root = null!;
    private X509Certificate2 _client = null!;
    private readonly List<string> _folders = [];

    [OneTimeSetUp]
    public void MakeRootAndClient()
    {
        if (TestEnvironment.Docker.Host.Scheme != "unix")
        {
            Assert.Fail($"The TLS front needs the engine's unix socket; DOCKER_HOST is {TestEnvironment.Docker.Host}.");
        }

        _root = TestCertificates.Authority("pipeline chain test root");
        _client = TestCertificates.Leaf(_root, "pipeline", TestCertificates.ClientAuth);
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _root.Dispose();
        _client.Dispose();
    }

    [TearDown]
    public void RemoveFolders()
    {
        foreach (var folder in _folders)
        {
            Directory.Delete(folder, true);
        }

        _folders.Clear();
    }

    private string Folder(params X509Certificate2[] authorities)
    {
        var folder = TestCertificates.Folder(authorities, _client);
        _folders.Add(folder);
        return folder;
    }

    private static async Task<string> PingThroughAsync(TlsFront front, string folder)
    {
        using var engine = new DockerEngine(DockerEndpoint.Parse($"tcp://127.0.0.1:{front.Port}", tlsVerify: true, certPath: folder));
        return await engine.PingAsync();
    }

    [Test]
    public async Task Should_Trust_Every_Ca_In_The_Bundle_Not_Only_The_First()
    {
        // Given: ca.pem holds another CA first, then the one that signed the engine's certificate
        using var other = TestCertificates.Authority("some other CA");
        using var server = TestCertificates.Leaf(_root, "127.0.0.1", TestCertificates.ServerAuth);
        await using var front = new TlsFront(server, [], TestEnvironment.Docker.Host.AbsolutePath);

        // When
        var version = await PingThroughAsync(front, Folder(other, _root));

        // Then
        version.ShouldEndWith("(API 1.41)");
    }

    [Test]
    public async Task Should_Accept_An_Engine_That_Sends_Its_Intermediate_Ca()
    {
        // Given: root → intermediate → engine; the engine sends the intermediate, ca.pem holds the root alone
        using var intermediate = TestCertificates.Authority("pipeline chain test intermediate", _root);
        using var server = TestCertificates.Leaf(intermediate, "127.0.0.1", TestCertificates.ServerAuth);
        await using var front = new TlsFront(server, [intermediate], TestEnvironment.Docker.Host.AbsolutePath);

        // When
        var version = await PingThroughAsync(front, Folder(_root));

        // Then
        version.ShouldEndWith("(API 1.41)");
    }

    [Test]
    public async Task Should_Accept_An_Engine_Whose_Intermediate_Ca_Is_In_The_Bundle()
    {
        // Given: the engine sends only its own certificate; ca.pem holds the root and the intermediate
        using var intermediate = TestCertificates.Authority("pipeline chain test intermediate", _root);
        using var server = TestCertificates.Leaf(intermediate, "127.0.0.1", TestCertificates.ServerAuth);
        await using var front = new TlsFront(server, [], TestEnvironment.Docker.Host.AbsolutePath);

        // When
        var version = await PingThroughAsync(front, Folder(_root, intermediate));

        // Then
        version.ShouldEndWith("(API 1.41)");
    }

    [Test]
    public async Task Should_Refuse_An_Engine_Whose_Intermediate_Is_Missing()
    {
        // Given: the engine sends only its own certificate and ca.pem holds only the root
        using var intermediate = TestCertificates.Authority("pipeline chain test intermediate", _root);
        using var server = TestCertificates.Leaf(intermediate, "127.0.0.1", TestCertificates.ServerAuth);
        await using var front = new TlsFront(server, [], TestEnvironment.Docker.Host.AbsolutePath);
        var folder = Folder(_root);

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => PingThroughAsync(front, folder));

        // Then
        error.Message.ShouldBe(
            $"The TLS handshake with the Docker engine at tcp://127.0.0.1:{front.Port}/ (TLS) failed while checking the engine: the engine's certificate (CN=127.0.0.1, issued by CN=pipeline chain test intermediate) does not chain to a CA in {folder}/ca.pem (CN=pipeline chain test root)."
            + $" Put the CA that signed the engine's certificate into {folder}/ca.pem (DOCKER_CERT_PATH), or point DOCKER_CERT_PATH at the folder made for this engine.");
    }

    [Test]
    public async Task Should_Refuse_An_Engine_Whose_Certificate_Is_Not_For_Server_Authentication()
    {
        // Given: the engine presents a certificate made for clients
        using var server = TestCertificates.Leaf(_root, "127.0.0.1", TestCertificates.ClientAuth);
        await using var front = new TlsFront(server, [], TestEnvironment.Docker.Host.AbsolutePath);
        var folder = Folder(_root);

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => PingThroughAsync(front, folder));

        // Then
        error.Message.ShouldBe(
            $"The TLS handshake with the Docker engine at tcp://127.0.0.1:{front.Port}/ (TLS) failed while checking the engine: the engine's certificate (CN=127.0.0.1, issued by CN=pipeline chain test root) is not for server authentication (its extended key usage lacks serverAuth)."
            + " Reissue the engine's certificate with extendedKeyUsage = serverAuth.");
    }

    [Test]
    public async Task Should_Refuse_An_Engine_Whose_Certificate_Has_Expired()
    {
        // Given: the engine's certificate ended an hour ago
        var ended = DateTimeOffset.UtcNow.AddHours(-1);
        using var server = TestCertificates.Leaf(_root, "127.0.0.1", TestCertificates.ServerAuth, ended.AddDays(-1), ended);
        await using var front = new TlsFront(server, [], TestEnvironment.Docker.Host.AbsolutePath);
        var folder = Folder(_root);

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => PingThroughAsync(front, folder));

        // Then
        error.Message.ShouldStartWith(
            $"The TLS handshake with the Docker engine at tcp://127.0.0.1:{front.Port}/ (TLS) failed while checking the engine: the engine's certificate (CN=127.0.0.1, issued by CN=pipeline chain test root) expired on {server.NotAfter.ToUniversalTime():u} (checked at ");
        error.Message.ShouldEndWith("). Renew the engine's certificate (and restart dockerd with it).");
    }
}
