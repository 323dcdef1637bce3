using System.Net;
using System.Net.Sockets;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;

namespace Pipeline.Testing.Support;

/// <summary>
/// Where the real engines listen during integration tests. `./build.sh --target=Test` provisions them first
/// (dockerd, docker-registry on 127.0.0.1:5000, etcd on 127.0.0.1:2379); the same environment variables the
/// build program reads point the tests elsewhere. When etcd has authentication on, the tests use the user
/// PIPELINE_TEST_ETCD_USERNAME with PIPELINE_TEST_ETCD_PASSWORD or PIPELINE_TEST_ETCD_PASSWORD_FILE (the Test target
/// sets these), else the same without TEST_, or else the user the provisioning made (<see cref="ProvisionedEtcdUser"/>,
/// password in <see cref="ProvisionedEtcdPasswordFile"/>) when that file exists. The TEST_ names exist because the tests
/// run the pipeline in-process, where PIPELINE_ETCD_* in the environment would override the options a test gives (a
/// private etcd's user, say).
/// </summary>
public static class TestEnvironment
{
    /// <summary>The proxy image the provisioning builds and pushes.</summary>
    public const string ProxyImage = ProxyOptions.DefaultImage;

    public static DockerEndpoint Docker =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? new DockerEndpoint(new Uri(host)) : DockerEndpoint.Local;

    public static string ImageRegistry => Environment.GetEnvironmentVariable("PIPELINE_IMAGE_REGISTRY") ?? "127.0.0.1:5000";

    public static Uri Etcd => new(Environment.GetEnvironmentVariable("PIPELINE_ETCD") ?? "http://127.0.0.1:2379");

    /// <summary>The etcd user the provisioning creates (see Pipeline.Provisioning's LocalServicesOptions).</summary>
    public const string ProvisionedEtcdUser = "pipeline";

    /// <summary>Where the provisioning keeps that user's password with the default state folder.</summary>
    public const string ProvisionedEtcdPasswordFile = "/var/lib/pipeline-local/secrets/etcd-pipeline.password";

    /// <summary>The etcd user the tests use, or null for none (etcd without authentication).</summary>
    public static string? EtcdUsername =>
        Variable("ETCD_USERNAME") is { } user ? user
        : File.Exists(ProvisionedEtcdPasswordFile) ? ProvisionedEtcdUser
        : null;

    /// <summary>The etcd user's password when given in the environment, else null.</summary>
    public static string? EtcdPassword => Variable("ETCD_PASSWORD");

    /// <summary>The file holding the etcd user's password, when the password is not in the environment.</summary>
    public static string? EtcdPasswordFile =>
        EtcdUsername is null || EtcdPassword is not null ? null
        : Variable("ETCD_PASSWORD_FILE") ?? ProvisionedEtcdPasswordFile;

    /// <summary>PIPELINE_TEST_{name}, else PIPELINE_{name}, when set and not empty.</summary>
    private static string? Variable(string name) =>
        Environment.GetEnvironmentVariable("PIPELINE_TEST_" + name) is { Length: > 0 } forTests ? forTests
        : Environment.GetEnvironmentVariable("PIPELINE_" + name) is { Length: > 0 } value ? value
        : null;

    /// <summary>The etcd variables a pipeline process the tests start needs (empty without authentication).</summary>
    public static IReadOnlyDictionary<string, string> EtcdEnvironment =>
        EtcdUsername is not { } user ? new Dictionary<string, string>()
        : EtcdPassword is { } password ? new Dictionary<string, string> { ["PIPELINE_ETCD_USERNAME"] = user, ["PIPELINE_ETCD_PASSWORD"] = password }
        : new Dictionary<string, string> { ["PIPELINE_ETCD_USERNAME"] = user, ["PIPELINE_ETCD_PASSWORD_FILE"] = EtcdPasswordFile! };

    /// <summary>Deployment options pointing at these engines (both Docker engines, etcd and its user, the image registry, the proxy image).</summary>
    public static DeploymentOptions Defaults => new()
    {
        CdEngine = Docker,
        ProductionEngine = Docker,
        RegistryEndpoints = [Etcd],
        EtcdUsername = EtcdUsername,
        EtcdPassword = EtcdPassword,
        EtcdPasswordFile = EtcdPasswordFile,
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
