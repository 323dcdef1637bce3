using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Credentials;

/// <summary>
/// A private docker-registry (the Debian package the provisioning installs) on a free loopback port that checks
/// credentials: htpasswd auth with one bcrypt-hashed user (hashed with BCrypt.Net-Next, so no apache2-utils is needed).
/// Plain HTTP on loopback: the registry does not require TLS for htpasswd auth, and dockerd treats loopback
/// registries as insecure. Disposing kills the process (by its pid) and deletes its folder.
/// </summary>
internal sealed class AuthRegistry : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pipeline-auth-registry-").FullName;
    private int _pid;

    private AuthRegistry(string user, string password)
    {
        User = user;
        Password = password;
        Port = TestEnvironment.FreePort();
        var htpasswd = Path.Combine(_root, "htpasswd");
        File.WriteAllText(htpasswd, $"{user}:{BCrypt.Net.BCrypt.HashPassword(password, workFactor: 5)}\n");
        File.WriteAllText(Config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(_root, "data")}
            http:
              addr: 127.0.0.1:{Port}
            auth:
              htpasswd:
                realm: pipeline-test
                path: {htpasswd}
            """ + "\n");
    }

    private string Config => Path.Combine(_root, "config.yml");

    public string User { get; }
    public string Password { get; }
    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Starts the registry and waits (at most 10 s) until GET /v2/ answers 401.</summary>
    public static async Task<AuthRegistry> StartAsync(string user, string password)
    {
        var registry = new AuthRegistry(user, password);
        registry._pid = await new ProcessCommandRunner().StartDetachedAsync("docker-registry", ["serve", registry.Config], Path.Combine(registry._root, "registry.log"));
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await http.GetAsync($"http://{registry.Address}/v2/");
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    return registry;
                }
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                var log = File.ReadAllText(Path.Combine(registry._root, "registry.log"));
                registry.Dispose();
                throw new InvalidOperationException($"docker-registry with htpasswd auth did not answer 401 within 10 s:\n{log}");
            }

            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        try
        {
            using var process = Process.GetProcessById(_pid);
            process.Kill();
            process.WaitForExit(10_000);
        }
        catch (ArgumentException)
        {
            // already gone
        }

        Directory.Delete(_root, recursive: true);
    }

}
