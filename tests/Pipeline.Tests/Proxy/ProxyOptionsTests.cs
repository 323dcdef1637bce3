using System.Reflection;
using Pipeline.Docker;
using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyOptionsTests
{
    [Test]
    public void Should_Default_To_Nginx_On_Loopback_8080()
    {
        var options = new ProxyOptions().Validate();

        options.Kind.ShouldBe("nginx");
        options.ContainerName.ShouldBe("pipeline-proxy");
        options.Image.ShouldBe("127.0.0.1:5000/pipeline/proxy:bookworm-2");
        options.PublicUrl.ShouldBe(new Uri("http://127.0.0.1:8080/"));
    }

    [Test]
    public void Should_Build_The_Public_Url_From_Address_And_Port()
    {
        new ProxyOptions { ListenAddress = "::1", ListenPort = 18080 }.PublicUrl.ShouldBe(new Uri("http://[::1]:18080/"));
    }

    [TestCase("Kind", "traefik", "Proxy kind 'traefik' is not supported; use one of: nginx, haproxy.")]
    [TestCase("ListenPort", "0", "Proxy listen port 0 is out of range: use 1-65535.")]
    [TestCase("ListenPort", "65536", "Proxy listen port 65536 is out of range: use 1-65535.")]
    [TestCase("ContainerName", "my proxy", "Proxy container name 'my proxy' is not valid")]
    [TestCase("Network", "net;work", "Proxy network 'net;work' is not valid")]
    [TestCase("ListenAddress", "localhost", "Proxy listen address 'localhost' is not an IP address")]
    [TestCase("Image", "Bad Image", "Proxy image 'Bad Image' is not valid")]
    public void Should_Reject_Bad_Options_Naming_Them(string property, string value, string message)
    {
        var options = property switch
        {
            "Kind" => new ProxyOptions { Kind = value },
            "ListenPort" => new ProxyOptions { ListenPort = int.Parse(value) },
            "ContainerName" => new ProxyOptions { ContainerName = value },
            "Network" => new ProxyOptions { Network = value },
            "ListenAddress" => new ProxyOptions { ListenAddress = value },
            "Image" => new ProxyOptions { Image = value },
            _ => throw new ArgumentOutOfRangeException(nameof(property)),
        };

        var ex = Should.Throw<ArgumentException>(() => options.Validate());

        ex.Message.ShouldStartWith(message);
        ex.ParamName.ShouldBe(property);
    }

    [TestCase(0, true, "Proxy HTTPS port 0 is out of range: use 1-65535.", "HttpsPort")]
    [TestCase(8080, true, "Proxy HTTPS port 8080 is also the HTTP port: give them different ports.", "HttpsPort")]
    [TestCase(8443, false, "Proxy HTTPS port 8443 needs a certificate: ", "Certificate")]
    public void Should_Reject_Bad_Https_Options(int port, bool withCertificate, string message, string property)
    {
        var options = new ProxyOptions
        {
            HttpsPort = port,
            Certificate = withCertificate ? ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1)) : null,
        };

        var ex = Should.Throw<ArgumentException>(() => options.Validate());

        ex.Message.ShouldStartWith(message);
        ex.ParamName.ShouldBe(property);
    }

    [Test]
    public void Should_Build_The_Public_Https_Url_Only_With_An_Https_Port()
    {
        new ProxyOptions { ListenPort = 18080 }.PublicHttpsUrl.ShouldBeNull();
        new ProxyOptions { ListenPort = 18080, HttpsPort = 18443 }.PublicHttpsUrl.ShouldBe(new Uri("https://127.0.0.1:18443/"));
    }

    [TestCase("nginx", typeof(NginxProxy))]
    [TestCase("haproxy", typeof(HaproxyProxy))]
    public void Should_Create_The_Adapter_For_The_Kind(string kind, Type expected)
    {
        using var engine = UntouchedEngine.Create();

        var proxy = ProxyFactory.Create(new ProxyOptions { Kind = kind, ListenPort = 18080 }, engine);

        proxy.ShouldBeOfType(expected);
        proxy.Kind.ShouldBe(kind);
        proxy.PublicUrl.ShouldBe(new Uri("http://127.0.0.1:18080/"));
        proxy.TemplateSource.ShouldBe($"built-in {kind} template");
    }

    [Test]
    public void Should_Refuse_Options_Of_Another_Kind()
    {
        using var engine = UntouchedEngine.Create();

        Should.Throw<ArgumentException>(() => new HaproxyProxy(new ProxyOptions { Kind = "nginx" }, engine))
            .Message.ShouldStartWith("HaproxyProxy needs options with Kind 'haproxy', not 'nginx'");
    }

    /// <summary>An engine that fails the test if the code under test calls it.</summary>
    public class UntouchedEngine : DispatchProxy
    {
        public static IDockerEngine Create() => DispatchProxy.Create<IDockerEngine, UntouchedEngine>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == nameof(IDisposable.Dispose) ? null : throw new AssertionException($"The engine was called ({targetMethod?.Name}) but should not be.");
    }
}
