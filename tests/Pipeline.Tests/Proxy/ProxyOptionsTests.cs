using System.Reflection;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyOptionsTests
{
    [Test]
    public void Should_Default_To_Haproxy_On_Loopback_8080()
    {
        var options = new ProxyOptions().Validate();

        options.Kind.ShouldBe(ProxyKind.Haproxy);
        options.ContainerName.ShouldBe("pipeline-proxy");
        options.Image.ShouldBe("127.0.0.1:5000/pipeline/proxy:bookworm-2");
        options.PublicUrl.ShouldBe(new Uri("http://127.0.0.1:8080/"));
    }

    [Test]
    public void Should_Have_The_Same_Defaults_As_A_Deploys_Options()
    {
        // Given the defaults of both / When the deploy's are turned into proxy options
        var derived = new DeploymentOptions().ToProxyOptions();
        var defaults = new ProxyOptions();

        // Then they agree on everything
        (derived.Kind, derived.ContainerName, derived.Image, derived.Network, derived.ListenAddress, derived.ListenPort, derived.TemplatePath)
            .ShouldBe((defaults.Kind, defaults.ContainerName, defaults.Image, defaults.Network, defaults.ListenAddress, defaults.ListenPort, defaults.TemplatePath));
    }

    [Test]
    public void Should_Take_Every_Proxy_Option_From_A_Deploys_Options()
    {
        // Given a deploy's options with every proxy option set
        var deploy = new DeploymentOptions
        {
            ProxyKind = ProxyKind.Nginx,
            ProxyContainer = "edge",
            ProxyImage = "127.0.0.1:5000/edge/proxy:1",
            Network = "edge-net",
            ProxyAddress = "::1",
            ProxyPort = 18080,
            ProxyTemplate = "/deploy/nginx.conf.liquid",
        };

        // When / Then
        var proxy = deploy.ToProxyOptions();
        (proxy.Kind, proxy.ContainerName, proxy.Image, proxy.Network, proxy.ListenAddress, proxy.ListenPort, proxy.TemplatePath)
            .ShouldBe((ProxyKind.Nginx, "edge", "127.0.0.1:5000/edge/proxy:1", "edge-net", "::1", 18080, "/deploy/nginx.conf.liquid"));
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Parse_A_Kind_By_Its_Name(string name)
    {
        ProxyKind.Parse(name).Name.ShouldBe(name);
        ProxyKind.Parse(name).ToString().ShouldBe(name);
    }

    [TestCase("traefik")]
    [TestCase("HAProxy")]
    public void Should_Refuse_An_Unknown_Kind_Naming_It(string name)
    {
        var ex = Should.Throw<ArgumentException>(() => ProxyKind.Parse(name));

        ex.Message.ShouldStartWith($"Proxy kind '{name}' is not supported; use one of: nginx, haproxy.");
        ProxyKind.TryParse(name, out _).ShouldBeFalse();
    }

    [Test]
    public void Should_Refuse_Options_Without_A_Kind()
    {
        var ex = Should.Throw<ArgumentException>(() => new ProxyOptions { Kind = null! }.Validate());

        ex.Message.ShouldStartWith("Proxy kind is not set; use one of: nginx, haproxy.");
        ex.ParamName.ShouldBe("Kind");
    }

    [Test]
    public void Should_Build_The_Public_Url_From_Address_And_Port()
    {
        new ProxyOptions { ListenAddress = "::1", ListenPort = 18080 }.PublicUrl.ShouldBe(new Uri("http://[::1]:18080/"));
    }

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
    public void Should_Refuse_A_Certificate_Without_An_Https_Port()
    {
        var options = new ProxyOptions { Certificate = ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1)) };

        Should.Throw<ArgumentException>(() => options.Validate()).ParamName.ShouldBe("Certificate");
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

        var proxy = ProxyFactory.Create(new ProxyOptions { Kind = ProxyKind.Parse(kind), ListenPort = 18080 }, engine);

        proxy.ShouldBeOfType(expected);
        proxy.Kind.Name.ShouldBe(kind);
        proxy.PublicUrl.ShouldBe(new Uri("http://127.0.0.1:18080/"));
        proxy.TemplateSource.ShouldBe($"built-in {kind} template");
    }

    [Test]
    public void Should_Refuse_Options_Of_Another_Kind()
    {
        using var engine = UntouchedEngine.Create();

        Should.Throw<ArgumentException>(() => new HaproxyProxy(new ProxyOptions { Kind = ProxyKind.Nginx }, engine))
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
