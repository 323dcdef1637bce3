using Pipeline.Docker;

namespace Pipeline.Tests.Docker;

public sealed class DockerEndpointTests
{
    private string _certs = null!;

    [SetUp]
    public void CreateCertFolder()
    {
        _certs = Directory.CreateTempSubdirectory("pipeline-certs-").FullName;
        foreach (var file in DockerEndpoint.TlsFiles)
        {
            File.WriteAllText(Path.Combine(_certs, file), "-----BEGIN CERTIFICATE-----\n");
        }
    }

    [TearDown]
    public void RemoveCertFolder() => Directory.Delete(_certs, true);

    // ---------------------------------------------------------------- FromEnvironment

    [Test]
    public void Should_Be_Local_When_No_Variable_Is_Set()
    {
        // When
        var endpoint = DockerEndpoint.FromEnvironment(_ => null);

        // Then
        endpoint.ShouldBe(DockerEndpoint.Local);
        endpoint.ToString().ShouldBe("unix:///var/run/docker.sock");
    }

    [Test]
    public void Should_Read_Host_Tls_And_Cert_Path_With_Prefix()
    {
        // Given
        var variables = new Dictionary<string, string>
        {
            ["DOCKER_HOST"] = "unix:///run/cd.sock",
            ["PRODUCTION_DOCKER_HOST"] = "tcp://10.0.0.5:2376",
            ["PRODUCTION_DOCKER_TLS_VERIFY"] = "1",
            ["PRODUCTION_DOCKER_CERT_PATH"] = _certs,
        };

        // When
        var production = DockerEndpoint.FromEnvironment(variables.GetValueOrDefault, "PRODUCTION_");
        var cd = DockerEndpoint.FromEnvironment(variables.GetValueOrDefault);

        // Then
        production.ShouldBe(new DockerEndpoint(new Uri("tcp://10.0.0.5:2376"), true, _certs));
        production.ToString().ShouldBe("tcp://10.0.0.5:2376/ (TLS)");
        cd.ShouldBe(new DockerEndpoint(new Uri("unix:///run/cd.sock")));
    }

    [Test]
    public void Should_Not_Use_Tls_When_Verify_Is_Empty()
    {
        // When
        var endpoint = DockerEndpoint.FromEnvironment(new Dictionary<string, string> { ["DOCKER_HOST"] = "tcp://127.0.0.1:2375", ["DOCKER_TLS_VERIFY"] = "" }.GetValueOrDefault);

        // Then
        endpoint.ShouldBe(new DockerEndpoint(new Uri("tcp://127.0.0.1:2375")));
    }

    [TestCase("1")]
    [TestCase("0")]
    [TestCase("false")]
    [TestCase("no")]
    [TestCase("maybe")]
    public void Should_Use_Tls_For_Any_Non_Empty_Tls_Verify_As_The_Docker_Cli_Does(string verify)
    {
        // Given any non-empty DOCKER_TLS_VERIFY (the docker CLI turns TLS on for "0" and "false" too), for either engine
        var variables = new Dictionary<string, string>
        {
            ["DOCKER_HOST"] = "tcp://127.0.0.1:2376",
            ["DOCKER_TLS_VERIFY"] = verify,
            ["DOCKER_CERT_PATH"] = _certs,
            ["PRODUCTION_DOCKER_HOST"] = "tcp://127.0.0.1:2377",
            ["PRODUCTION_DOCKER_TLS_VERIFY"] = verify,
            ["PRODUCTION_DOCKER_CERT_PATH"] = _certs,
        };

        // When
        var cd = DockerEndpoint.FromEnvironment(variables.GetValueOrDefault);
        var production = DockerEndpoint.FromEnvironment(variables.GetValueOrDefault, "PRODUCTION_");

        // Then both engines verify TLS
        cd.ShouldBe(new DockerEndpoint(new Uri("tcp://127.0.0.1:2376"), true, _certs));
        production.ShouldBe(new DockerEndpoint(new Uri("tcp://127.0.0.1:2377"), true, _certs));
        DockerEndpoint.IsTlsVerifyOn(verify).ShouldBeTrue();
        DockerEndpoint.IsTlsVerifyOn("").ShouldBeFalse();
        DockerEndpoint.IsTlsVerifyOn(null).ShouldBeFalse();
    }

    [Test]
    public void Should_Name_The_Variable_When_The_Host_Is_Malformed()
    {
        // When
        var error = Should.Throw<FormatException>(() => DockerEndpoint.FromEnvironment(
            new Dictionary<string, string> { ["PRODUCTION_DOCKER_HOST"] = "tcp://10.0.0.5" }.GetValueOrDefault, "PRODUCTION_"));

        // Then
        error.Message.ShouldBe("PRODUCTION_DOCKER_HOST: 'tcp://10.0.0.5' is not a Docker host: tcp:// needs a host and a port, e.g. tcp://10.0.0.5:2376.");
    }

    [Test]
    public void Should_Refuse_Tls_Without_A_Host()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => DockerEndpoint.FromEnvironment(new Dictionary<string, string> { ["DOCKER_TLS_VERIFY"] = "1" }.GetValueOrDefault));

        // Then
        error.Message.ShouldBe("DOCKER_TLS_VERIFY is set but DOCKER_HOST is not: TLS needs a tcp:// engine. Set DOCKER_HOST=tcp://host:2376 or unset DOCKER_TLS_VERIFY.");
    }

    // ---------------------------------------------------------------- Parse

    [TestCase("unix:///var/run/docker.sock", "unix:///var/run/docker.sock")]
    [TestCase("unix:///tmp/other engine.sock", "unix:///tmp/other%20engine.sock")]
    [TestCase("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375/")]
    [TestCase("tcp://docker.example.internal:2376/", "tcp://docker.example.internal:2376/")]
    [TestCase("TCP://[::1]:2375", "tcp://[::1]:2375/")]
    [TestCase("npipe:////./pipe/docker_engine", "npipe://./pipe/docker_engine")]
    [TestCase("npipe://./pipe/docker_engine", "npipe://./pipe/docker_engine")]
    public void Should_Accept_Docker_Host_Forms(string host, string expected)
    {
        // When
        var endpoint = DockerEndpoint.Parse(host);

        // Then
        endpoint.Host.AbsoluteUri.ShouldBe(expected);
        endpoint.TlsVerify.ShouldBeFalse();
    }

    [TestCase("", "The Docker host is empty. Use unix:///var/run/docker.sock or tcp://host:2376.")]
    [TestCase("/var/run/docker.sock", "'/var/run/docker.sock' is not a Docker host: it has no scheme. Use unix:///var/run/docker.sock or tcp://host:2376.")]
    [TestCase("http://127.0.0.1:2375", "'http://127.0.0.1:2375' is not a Docker host: scheme 'http' is not supported (only unix://, tcp:// and npipe://). Use unix:///var/run/docker.sock or tcp://host:2376.")]
    [TestCase("ssh://deploy@host", "'ssh://deploy@host' is not a Docker host: scheme 'ssh' is not supported (only unix://, tcp:// and npipe://). Use unix:///var/run/docker.sock or tcp://host:2376.")]
    [TestCase("unix://var/run/docker.sock", "'unix://var/run/docker.sock' is not a Docker host: a unix socket needs an absolute path, e.g. unix:///var/run/docker.sock.")]
    [TestCase("tcp://docker-host", "'tcp://docker-host' is not a Docker host: tcp:// needs a host and a port, e.g. tcp://docker-host:2376.")]
    [TestCase("tcp://:2376", "'tcp://:2376' is not a Docker host: tcp:// needs a host before the port, e.g. tcp://127.0.0.1:2376.")]
    [TestCase("npipe://docker_engine", "'npipe://docker_engine' is not a Docker host: a named pipe looks like npipe:////./pipe/docker_engine.")]
    [TestCase("tcp://docker-host:http", "'tcp://docker-host:http' is not a Docker host: port 'http' must be a number from 1 to 65535, e.g. tcp://docker-host:2376.")]
    [TestCase("tcp://docker-host:70000", "'tcp://docker-host:70000' is not a Docker host: port '70000' must be a number from 1 to 65535, e.g. tcp://docker-host:2376.")]
    [TestCase("tcp://docker-host:2376/v1.41", "'tcp://docker-host:2376/v1.41' is not a Docker host: tcp:// takes host:port only, e.g. tcp://10.0.0.5:2376.")]
    public void Should_Say_What_Is_Wrong_And_How_To_Fix_A_Bad_Host(string host, string message)
    {
        // When
        var error = Should.Throw<FormatException>(() => DockerEndpoint.Parse(host));

        // Then
        error.Message.ShouldBe(message);
    }

    [Test]
    public void Should_Keep_The_Cert_Folder_When_Tls_Files_Are_There()
    {
        // When
        var endpoint = DockerEndpoint.Parse("tcp://10.0.0.5:2376", tlsVerify: true, certPath: _certs);

        // Then
        endpoint.ShouldBe(new DockerEndpoint(new Uri("tcp://10.0.0.5:2376"), true, _certs));
    }

    [Test]
    public void Should_Name_Missing_Tls_Files_And_The_Fix()
    {
        // Given
        File.Delete(Path.Combine(_certs, "key.pem"));

        // When
        var error = Should.Throw<ArgumentException>(() => DockerEndpoint.Parse("tcp://10.0.0.5:2376", tlsVerify: true, certPath: _certs));

        // Then
        error.Message.ShouldBe($"TLS to 'tcp://10.0.0.5:2376' needs ca.pem, cert.pem and key.pem in '{_certs}', but key.pem is missing. Set DOCKER_CERT_PATH to the folder that holds them.");
    }

    [Test]
    public void Should_Refuse_Tls_Over_A_Unix_Socket()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => DockerEndpoint.Parse("unix:///var/run/docker.sock", tlsVerify: true, certPath: _certs));

        // Then
        error.Message.ShouldBe("TLS was asked for with 'unix:///var/run/docker.sock', but TLS works only with tcp:// hosts. Use tcp://host:2376 or unset DOCKER_TLS_VERIFY.");
    }
}
