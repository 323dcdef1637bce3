using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pipeline.IntegrationTests.Transport;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Credentials;

/// <summary>
/// A private docker-registry (the Debian package the provisioning installs) on a free loopback port that checks
/// credentials: htpasswd auth with one bcrypt-hashed user (hashed with BCrypt.Net-Next, so no apache2-utils is needed).
/// Plain HTTP on loopback (the registry does not require TLS for htpasswd auth, and dockerd treats loopback
/// registries as insecure), or HTTPS with a certificate the test gives. Disposing kills the process (by its pid) and
/// deletes its folder.
/// </summary>
internal sealed class AuthRegistry : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pipeline-auth-registry-").FullName;
    private int _pid;

    private AuthRegistry(string user, string password, X509Certificate2? certificate)
    {
        User = user;
        Password = password;
        Port = TestEnvironment.FreePort();
        UsesTls = certificate is not null;
        var htpasswd = Path.Combine(_root, "htpasswd");
        File.WriteAllText(htpasswd, $"{user}:{BCrypt.Net.BCrypt.HashPassword(password, workFactor: 5)}\n");
        var tls = "";
        if (certificate is not null)
        {
            TestCertificates.WritePem(certificate, Path.Combine(_root, "cert.pem"), Path.Combine(_root, "key.pem"));
            tls = $"""

                  tls:
                    certificate: {Path.Combine(_root, "cert.pem")}
                    key: {Path.Combine(_root, "key.pem")}
                """;
        }

        File.WriteAllText(Config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(_root, "data")}
            http:
              addr: 127.0.0.1:{Port}{tls}
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

    public bool UsesTls { get; }

    /// <summary>Starts the registry (over HTTPS with <paramref name="certificate"/> when given) and waits (at most 10 s) until GET /v2/ answers 401.</summary>
    public static async Task<AuthRegistry> StartAsync(string user, string password, X509Certificate2? certificate = null)
    {
        var registry = new AuthRegistry(user, password, certificate);
        registry._pid = await new ProcessCommandRunner().StartDetachedAsync("docker-registry", ["serve", registry.Config], Path.Combine(registry._root, "registry.log"));
        // The readiness probe only: the certificate is the test's own, checked by the tests themselves.
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await http.GetAsync($"{(registry.UsesTls ? "https" : "http")}://{registry.Address}/v2/");
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
