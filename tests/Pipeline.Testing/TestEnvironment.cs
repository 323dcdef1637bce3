using System.Net;
using System.Net.Sockets;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;

namespace Pipeline.Testing.Support;

/// <summary>
/// Where the real engines listen during integration tests. `./build.sh --target=Test` provisions them first
/// (dockerd, docker-registry on 127.0.0.1:5000, etcd on 127.0.0.1:2379); the same environment variables the
/// build program reads point the tests elsewhere.
/// </summary>
public static class TestEnvironment
{
    /// <summary>The proxy image the provisioning builds and pushes.</summary>
    public const string ProxyImage = ProxyOptions.DefaultImage;

    public static DockerEndpoint Docker =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? new DockerEndpoint(new Uri(host)) : DockerEndpoint.Local;

    public static string ImageRegistry => Environment.GetEnvironmentVariable("PIPELINE_IMAGE_REGISTRY") ?? "127.0.0.1:5000";

    public static Uri Etcd => new(Environment.GetEnvironmentVariable("PIPELINE_ETCD") ?? "http://127.0.0.1:2379");

    /// <summary>Deployment options pointing at these engines (both Docker engines, etcd, the image registry, the proxy image).</summary>
    public static DeploymentOptions Defaults => new()
    {
        CdEngine = Docker,
        ProductionEngine = Docker,
        RegistryEndpoints = [Etcd],
        ImageRegistry = ImageRegistry,
        ProxyImage = ProxyImage,
    };

    /// <summary>The folder holding Pipeline.sln, found upwards from the running assembly.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>A name no other test (or earlier run) uses: prefix + 8 hex characters, lowercase.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A free loopback port whose successor is free too (etcd's client and peer ports).</summary>
    public static int FreePortPair()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = FreePort();
            try
            {
                using var next = new TcpListener(IPAddress.Loopback, port + 1);
                next.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No two free consecutive loopback ports.");
    }
}
