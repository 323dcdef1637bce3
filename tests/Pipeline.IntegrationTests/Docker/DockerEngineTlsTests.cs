using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Docker;

namespace Pipeline.IntegrationTests.Docker;

/// <summary>
/// The adapter over tcp with mutual TLS (DOCKER_TLS_VERIFY): socat terminates TLS in front of the real engine's
/// socket, demanding a client certificate signed by a CA the test makes, as dockerd --tlsverify does.
/// </summary>
[TestFixture]
public sealed class DockerEngineTlsTests
{
    private string _certs = null!;
    private string _otherCa = null!;
    private Process _socat = null!;
    private int _port;

    [OneTimeSetUp]
    public async Task StartTlsFront()
    {
        if (TestEnvironment.Docker.Host.Scheme != "unix")
        {
            Assert.Ignore("The TLS front needs the engine's unix socket.");
        }

        _certs = Directory.CreateTempSubdirectory("pipeline-tls-").FullName;
        _otherCa = Directory.CreateTempSubdirectory("pipeline-tls-other-").FullName;
        using var ca = CreateCa("pipeline test CA");
        WritePem(Path.Combine(_certs, "ca.pem"), ca.ExportCertificatePem());
        using (var server = Issue(ca, "127.0.0.1", server: true, out var serverKey))
        {
            WritePem(Path.Combine(_certs, "server.pem"), server.ExportCertificatePem());
            WritePem(Path.Combine(_certs, "server-key.pem"), serverKey);
        }

        using (var client = Issue(ca, "pipeline", server: false, out var clientKey))
        {
            WritePem(Path.Combine(_certs, "cert.pem"), client.ExportCertificatePem());
            WritePem(Path.Combine(_certs, "key.pem"), clientKey);
            File.Copy(Path.Combine(_certs, "cert.pem"), Path.Combine(_otherCa, "cert.pem"));
            File.Copy(Path.Combine(_certs, "key.pem"), Path.Combine(_otherCa, "key.pem"));
        }

        using var other = CreateCa("some other CA");
        WritePem(Path.Combine(_otherCa, "ca.pem"), other.ExportCertificatePem());

        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            _port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        _socat = Process.Start(new ProcessStartInfo("socat",
        [
            $"OPENSSL-LISTEN:{_port},bind=127.0.0.1,reuseaddr,fork,cert={_certs}/server.pem,key={_certs}/server-key.pem,cafile={_certs}/ca.pem,verify=1",
            $"UNIX-CONNECT:{TestEnvironment.Docker.Host.AbsolutePath}",
        ]) { RedirectStandardError = true })!;

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, _port);
                break;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_socat.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    [OneTimeTearDown]
    public void StopTlsFront()
    {
        if (_socat is { HasExited: false })
        {
            _socat.Kill();
            _socat.WaitForExit();
        }

        _socat?.Dispose();
        Directory.Delete(_certs, true);
        Directory.Delete(_otherCa, true);
    }

    [Test]
    public async Task Should_Talk_To_The_Engine_Over_Mutual_Tls()
    {
        // Given
        var endpoint = DockerEndpoint.FromEnvironment(new Dictionary<string, string>
        {
            ["PRODUCTION_DOCKER_HOST"] = $"tcp://127.0.0.1:{_port}",
            ["PRODUCTION_DOCKER_TLS_VERIFY"] = "1",
            ["PRODUCTION_DOCKER_CERT_PATH"] = _certs,
        }.GetValueOrDefault, "PRODUCTION_");
        using var engine = new DockerEngine(endpoint);
        using var local = new DockerEngine(TestEnvironment.Docker);

        // When
        var version = await engine.PingAsync();
        var missing = await engine.InspectContainerAsync(TestEnvironment.UniqueName("pipeline-test-absent"));

        // Then
        version.ShouldBe(await local.PingAsync());
        missing.ShouldBeNull();
    }

    [Test]
    public async Task Should_Refuse_An_Engine_Whose_Certificate_Our_Ca_Did_Not_Sign()
    {
        // Given
        using var engine = new DockerEngine(DockerEndpoint.Parse($"tcp://127.0.0.1:{_port}", tlsVerify: true, certPath: _otherCa));

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => engine.PingAsync());

        // Then
        error.Message.ShouldBe(
            $"The TLS handshake with the Docker engine at tcp://127.0.0.1:{_port}/ (TLS) failed while checking the engine: the engine's certificate (CN=127.0.0.1, issued by CN=pipeline test CA) does not chain to a CA in {_otherCa}/ca.pem (CN=some other CA)."
            + $" Put the CA that signed the engine's certificate into {_otherCa}/ca.pem (DOCKER_CERT_PATH), or point DOCKER_CERT_PATH at the folder made for this engine.");
    }

    private static void WritePem(string path, string pem) => File.WriteAllText(path, pem + "\n");

    private static X509Certificate2 CreateCa(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddDays(2));
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string name, bool server, out string keyPem)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }

        keyPem = key.ExportPkcs8PrivateKeyPem();
        var serial = RandomNumberGenerator.GetBytes(8);
        return request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
    }
}
