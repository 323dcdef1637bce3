using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Docker;
using Pipeline.Proxy;

namespace Pipeline.IntegrationTests.Proxy;

/// <summary>
/// A proxy that also terminates TLS (a generated certificate, a free loopback port for 443) in front of two busybox httpd
/// upstreams: it answers over HTTPS with the certificate a client is told to trust, and a new certificate reaches new
/// connections without a reload and without failing a request.
/// </summary>
public abstract class HttpsProxyContract(string kind)
{
    private readonly Dictionary<string, string> testLabels = new() { ["pipeline.test"] = "true" };
    private readonly List<string> containers = [];
    private IDockerEngine engine = null!;
    private ImageRef upstreamImage = null!;
    private string network = null!;
    private ProxyOptions options = null!;
    private ContainerProxy proxy = null!;
    private UpstreamEndpoint blue = null!;
    private UpstreamEndpoint green = null!;

    [OneTimeSetUp]
    public async Task StartProxyAndUpstreams()
    {
        engine = new DockerEngine(TestEnvironment.Docker);
        network = TestEnvironment.UniqueName($"https-{kind}-net");
        upstreamImage = await BusyboxImage.BuildAsync(engine);
        var port = TestEnvironment.FreePort();
        options = new ProxyOptions
        {
            Kind = ProxyKind.Parse(kind),
            ContainerName = TestEnvironment.UniqueName($"https-{kind}"),
            Network = network,
            ListenPort = port,
            HttpsPort = TestEnvironment.FreePort(),
            Certificate = ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1)),
            Labels = testLabels,
        };
        proxy = ProxyFactory.Create(options, engine);
        containers.Add(options.ContainerName);
        await proxy.EnsureRunningAsync();
        blue = await StartUpstreamAsync("blue");
        green = await StartUpstreamAsync("green");
    }

    [OneTimeTearDown]
    public async Task RemoveEverything()
    {
        if (engine is null)
        {
            return;
        }

        await (proxy?.DisposeAsync() ?? ValueTask.CompletedTask);
        foreach (var container in containers)
        {
            await engine.RemoveContainerAsync(container);
        }

        await engine.RemoveNetworkAsync(network);
        if (upstreamImage is not null)
        {
            await BusyboxImage.RemoveImageAsync(upstreamImage);
        }

        engine.Dispose();
    }

    [Test]
    public async Task Should_Answer_Over_Https_With_The_Certificate_And_Over_Http_Too()
    {
        // Given blue is live
        await proxy.ApplyAsync(proxy.Render([Route("blue", "1.0.0", blue)]));

        // When asked over HTTPS (trusting only the certificate's CA) and over HTTP
        var (status, color, thumbprint) = await GetAsync(options.Certificate!, proxy.PublicHttpsUrl!);
        using var http = new HttpClient();
        using var plain = await http.GetAsync(proxy.PublicUrl);

        // Then both answer from blue, HTTPS with the configured certificate
        (status, color).ShouldBe((HttpStatusCode.OK, "blue"));
        thumbprint.ShouldBe(options.Certificate!.Thumbprint);
        plain.StatusCode.ShouldBe(HttpStatusCode.OK);
        proxy.PublicHttpsUrl.ShouldBe(new Uri($"https://127.0.0.1:{options.HttpsPort}/"));
    }

    [Test]
    public async Task Should_Switch_Colours_At_Runtime_With_Https_On()
    {
        await proxy.ApplyAsync(proxy.Render([Route("blue", "1.0.0", blue)]));

        var change = await proxy.ApplyAsync(proxy.Render([Route("green", "1.1.0", green) with { Standby = new StandbyRelease("blue", "1.0.0", [blue]) }]));

        change.ShouldBe(ProxyChange.Runtime);
        (await GetAsync(options.Certificate!, proxy.PublicHttpsUrl!)).Color.ShouldBe("green");
    }

    [Test]
    public async Task Should_Replace_The_Certificate_Without_Failing_Requests()
    {
        // Given blue live over HTTPS, and clients that trust both the old and the new certificate's CA: some keep their
        // connection, some open one per request
        await proxy.ApplyAsync(proxy.Render([Route("blue", "1.0.0", blue)]));
        var next = ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var failures = new List<string>();
        var seen = new HashSet<string>();
        var between = ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1));
        var clients = Enumerable.Range(0, 6).Select(i => LoadAsync(keepAlive: i % 2 == 0, [options.Certificate!, next, between], failures, seen, stop.Token)).ToList();
        await Task.Delay(500);

        // When the certificate is replaced many times over (a handshake that reads the file while it is renamed must
        // still get a chain and key that belong together), and then by the new one (the same container, a proxy
        // adapter given the new certificate)
        for (var i = 0; i < 40; i++)
        {
            await using var flip = ProxyFactory.Create(options with { Certificate = i % 2 == 0 ? between : options.Certificate }, engine);
            await flip.InstallCertificateAsync();
        }

        await using var renewed = ProxyFactory.Create(options with { Certificate = next }, engine);
        var change = await renewed.InstallCertificateAsync();
        var again = await renewed.InstallCertificateAsync();
        var (_, _, thumbprint) = await GetAsync(next, proxy.PublicHttpsUrl!);
        await Task.Delay(500);
        await stop.CancelAsync();
        var requests = (await Task.WhenAll(clients)).Sum();

        // Then new connections get the new certificate, it was a runtime change, and no request failed
        change.ShouldBe(ProxyChange.Runtime);
        again.ShouldBe(ProxyChange.None);
        thumbprint.ShouldBe(next.Thumbprint);
        TestContext.Out.WriteLine($"{kind}: {requests} HTTPS requests while the certificate was replaced, {failures.Count} failed; certificates seen: {string.Join(", ", seen.Select(t => t[..8]))}");
        requests.ShouldBeGreaterThan(50);
        failures.ShouldBeEmpty();
        seen.ShouldContain(next.Thumbprint);

        // And the file on disk says the same (a reload keeps it), readable only by root and the proxy's group
        var file = kind == "haproxy" ? HaproxyProxy.CertificateFile : NginxProxy.CertificateFile;
        (await engine.ExecAsync(options.ContainerName, ["/bin/cat", file])).Stdout.ShouldBe(next.CertificatePem + next.KeyPem);
        (await engine.ExecAsync(options.ContainerName, ["/usr/bin/stat", "-c", "%a", file])).Stdout.Trim().ShouldBe("640");

        // And the first certificate can come back the same way
        (await proxy.InstallCertificateAsync()).ShouldBe(ProxyChange.Runtime);
        (await GetAsync(options.Certificate!, proxy.PublicHttpsUrl!)).Thumbprint.ShouldBe(options.Certificate!.Thumbprint);
    }

    [Test]
    public async Task Should_Refuse_An_Https_Port_The_Running_Container_Does_Not_Publish()
    {
        await using var plain = ProxyFactory.Create(options with { HttpsPort = null, Certificate = null }, engine);

        var ex = await Should.ThrowAsync<ProxyException>(() => plain.EnsureRunningAsync());

        ex.Message.ShouldStartWith($"The {kind} proxy container '{options.ContainerName}' on ");
        ex.Message.ShouldContain($"publishes HTTPS on port {options.HttpsPort}, but no HTTPS port is configured; a published port cannot change while the proxy runs");
    }

    private async Task<int> LoadAsync(bool keepAlive, IReadOnlyList<ProxyCertificate> trusted, List<string> failures, HashSet<string> seen, CancellationToken stop)
    {
        await Task.Yield();
        var requests = 0;
        using var client = Client(trusted, seen);
        while (!stop.IsCancellationRequested)
        {
            requests++;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, proxy.PublicHttpsUrl);
                request.Headers.ConnectionClose = !keepAlive;
                using var response = await client.SendAsync(request, CancellationToken.None);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    lock (failures)
                    {
                        failures.Add($"HTTP {(int)response.StatusCode}");
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                lock (failures)
                {
                    failures.Add($"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
                }
            }
        }

        return requests;
    }

    private static async Task<(HttpStatusCode Status, string? Color, string? Thumbprint)> GetAsync(ProxyCertificate trusted, Uri url)
    {
        var seen = new HashSet<string>();
        using var client = Client([trusted], seen);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.ConnectionClose = true;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await client.SendAsync(request.Clone());
                var color = response.Headers.TryGetValues("X-Pipeline-Color", out var values) ? values.First() : null;
                lock (seen)
                {
                    return (response.StatusCode, color, seen.Single());
                }
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>An HttpClient that trusts only the CAs of <paramref name="trusted"/> and records the server certificates it saw.</summary>
    private static HttpClient Client(IReadOnlyList<ProxyCertificate> trusted, HashSet<string> seen)
    {
        var roots = trusted.Select(c => X509Certificate2.CreateFromPem(c.CaPem)).ToList();
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }

                    using var server = new X509Certificate2(certificate);
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots.ToArray());
                    var trustedChain = chain.Build(server);
                    lock (seen)
                    {
                        seen.Add(server.GetCertHashString(HashAlgorithmName.SHA256));
                    }

                    return trustedChain;
                },
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
    }

    private static ProxyRoute Route(string color, string version, UpstreamEndpoint upstream) =>
        new("web", "/", null, color, version, [upstream]);

    private async Task<UpstreamEndpoint> StartUpstreamAsync(string name)
    {
        var id = await engine.CreateContainerAsync(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName($"https-{kind}-{name}"),
            Image = upstreamImage.ToString(),
            Command = ["/bin/sh", "-c", $"mkdir -p /www && echo {name} > /www/index.html && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"],
            Labels = new Dictionary<string, string>(testLabels) { ["pipeline.role"] = "test" },
            Network = network,
        });
        containers.Add(id);
        await engine.StartContainerAsync(id);
        var info = (await engine.InspectContainerAsync(id)).ShouldNotBeNull();
        return new UpstreamEndpoint(info.NetworkAddresses[network], 8080);
    }
}

[TestFixture]
public sealed class NginxHttpsProxyContract() : HttpsProxyContract("nginx");

[TestFixture]
public sealed class HaproxyHttpsProxyContract() : HttpsProxyContract("haproxy");

internal static class HttpRequestMessageExtensions
{
    public static HttpRequestMessage Clone(this HttpRequestMessage request)
    {
        var clone = new HttpRequestMessage(request.Method, request.RequestUri);
        clone.Headers.ConnectionClose = request.Headers.ConnectionClose;
        return clone;
    }
}
