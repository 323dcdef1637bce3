using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyTemplateTests
{
    private static readonly ProxyRoute Hello = new("hello", "/", null, "blue", "1.0.0", [new UpstreamEndpoint("172.18.0.5", 8080)]);
    private static readonly ProxyRoute Api = new("api", "/api/", null, "green", "2.1.0+build.7", [new UpstreamEndpoint("172.18.0.6", 8080), new UpstreamEndpoint("172.18.0.7", 8081)]);
    private static readonly ProxyRoute ApiV2 = new("api-v2", "/api/v2/", null, "blue", "3.0.0", [new UpstreamEndpoint("172.18.0.8", 80)]);
    private static readonly ProxyRoute Admin = new("admin", "/", "Admin.Example.com", "green", "4.0.0", [new UpstreamEndpoint("172.18.0.9", 80)]);

    private static string Render(string kind, params ProxyRoute[] routes) => ProxyTemplate.BuiltIn(ProxyKind.Parse(kind)).Render(ProxyKind.Parse(kind), routes);

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Answer_503_For_Everything_When_There_Are_No_Routes(string kind)
    {
        // Given no routes / When rendered
        var config = Render(kind);

        // Then the only handler is the 503 one
        if (kind == "nginx")
        {
            config.ShouldContain("return 503 \"No route for this request.\\n\";");
            config.ShouldNotMatch(@"(?m)^\s*upstream ");
            config.ShouldNotContain("proxy_pass");
        }
        else
        {
            config.ShouldContain("http-request return status 503");
            config.ShouldContain("default_backend no_route");
            config.ShouldNotContain("use_backend");
        }

        config.ShouldContain($"{ProxyOptions.ContainerPort}");
    }

    [Test]
    public void Should_Render_One_Nginx_Location_Per_Prefix_Longest_First()
    {
        // Given three prefixes in no particular order
        var config = Render("nginx", Hello, ApiV2, Api);

        // Then each has a location and the longest comes first
        var v2 = config.IndexOf("location /api/v2/ {", StringComparison.Ordinal);
        var api = config.IndexOf("location /api/ {", StringComparison.Ordinal);
        var root = config.IndexOf("location / {", StringComparison.Ordinal);
        v2.ShouldBeGreaterThan(0);
        api.ShouldBeGreaterThan(v2);
        root.ShouldBeGreaterThan(api);
        config.ShouldNotContain("return 503", customMessage: "a route for / exists, so no 503 fallback location is needed");
    }

    [Test]
    public void Should_Keep_The_Path_And_Use_Keep_Alive_Upstreams_In_Nginx()
    {
        // Given a route with two upstreams
        var config = Render("nginx", Api);

        // Then the upstream block lists both, keeps connections alive, and proxy_pass has no URI part (path unchanged)
        config.ShouldContain("server 172.18.0.6:8080;");
        config.ShouldContain("server 172.18.0.7:8081;");
        config.ShouldContain("keepalive 16;");
        config.ShouldContain("proxy_http_version 1.1;");
        config.ShouldContain("proxy_set_header Connection \"\";");
        config.ShouldContain("proxy_connect_timeout 2s;");
        config.ShouldMatch(@"proxy_pass http://api_\d+;");
    }

    [TestCase("nginx", "add_header X-Pipeline-{0} {1} always;")]
    [TestCase("haproxy", "http-response set-header X-Pipeline-{0} {1}")]
    public void Should_Add_Colour_Service_And_Version_Headers(string kind, string format)
    {
        // Given a green api route / When rendered
        var config = Render(kind, Api);

        // Then the answers carry the pipeline headers
        config.ShouldContain(string.Format(format, "Color", "green"));
        config.ShouldContain(string.Format(format, "Service", "api"));
        config.ShouldContain(string.Format(format, "Version", "2.1.0+build.7"));
    }

    [Test]
    public void Should_Give_Each_Nginx_Host_A_Server_That_Also_Serves_The_Routes_For_Any_Host()
    {
        // Given a host route for / and host-less routes for / and /api/
        var config = Render("nginx", Hello, Api, Admin);

        // Then the host gets its own server (lower case) whose / goes to admin, and which still has /api/
        var hostServer = config[config.IndexOf("server_name admin.example.com;", StringComparison.Ordinal)..];
        hostServer.ShouldContain("location /api/ {");
        hostServer.ShouldMatch(@"location / \{\s*proxy_pass http://admin_\d+;");
        config.ShouldContain("listen 80 default_server;");
        config.ShouldContain("server_name _;");
    }

    [Test]
    public void Should_Select_HAProxy_Backends_By_Host_And_Path_Longest_Prefix_First()
    {
        // Given host-less and host routes
        var config = Render("haproxy", Hello, Api, ApiV2, Admin);

        // Then every route has a path_beg ACL, the host route also a host ACL, in longest-prefix order
        config.ShouldMatch(@"acl api-v2_\d+_path path_beg /api/v2/");
        config.ShouldMatch(@"acl admin_\d+_host var\(txn.host\) -m str admin.example.com");
        config.ShouldMatch(@"use_backend admin_\d+ if admin_\d+_host admin_\d+_path");
        var order = new[] { "use_backend api-v2_", "use_backend api_", "use_backend admin_", "use_backend hello_" }
            .Select(s => config.IndexOf(s, StringComparison.Ordinal)).ToArray();
        order.ShouldAllBe(i => i > 0);
        order.ShouldBe(order.Order().ToArray(), "longest prefix first, a host route before a host-less one of the same length");
        config.ShouldContain("server s1 172.18.0.6:8080");
        config.ShouldContain("server s2 172.18.0.7:8081");
        config.ShouldContain("timeout connect 2s");
        config.ShouldContain("option idle-close-on-response", customMessage: "without it a reload closes idle keep-alive connections under the clients");
        config.ShouldContain("retry-on conn-failure empty-response response-timeout", customMessage: "without it a GET whose replica's node is lost mid-request fails");
        config.ShouldContain("http-request disable-l7-retry if !METH_GET", customMessage: "only idempotent requests are sent twice");
    }

    [TestCase("nginx", "server [fd00::5]:8080;")]
    [TestCase("haproxy", "server s1 [fd00::5]:8080")]
    public void Should_Bracket_IPv6_Upstreams(string kind, string expected)
    {
        var route = Hello with { Upstreams = [new UpstreamEndpoint("fd00::5", 8080)] };

        Render(kind, route).ShouldContain(expected);
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Render_The_Same_Text_Whatever_The_Route_Order(string kind)
    {
        Render(kind, Hello, Api, ApiV2, Admin).ShouldBe(Render(kind, Admin, ApiV2, Api, Hello));
    }

    [Test]
    public void Should_Render_With_A_User_Template_Given_By_Path()
    {
        // Given a user template
        var path = Path.Combine(Path.GetTempPath(), $"proxy-template-{Guid.NewGuid():N}.liquid");
        File.WriteAllText(path, "{% for r in routes %}{{ r.service }}={{ r.color }}@{% for u in r.upstreams %}{{ u.endpoint }}{% endfor %};{% endfor %}");
        try
        {
            // When rendered through the options
            var template = ProxyTemplate.For(new ProxyOptions { TemplatePath = path });

            // Then the user's text is used with the documented model
            template.Render(ProxyKind.Nginx, [Api, Hello]).ShouldBe("api=green@172.18.0.6:8080172.18.0.7:8081;hello=blue@172.18.0.5:8080;");
            template.Source.ShouldBe(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Should_Name_The_Template_When_It_Is_Not_Valid_Liquid()
    {
        var ex = Should.Throw<ProxyTemplateException>(() => ProxyTemplate.Parse("{% for r in routes %}no end", "my.liquid"));

        ex.Message.ShouldStartWith("Proxy template my.liquid: ");
        ex.TemplateSource.ShouldBe("my.liquid");
    }

    [Test]
    public void Should_Name_The_Template_File_When_It_Is_Missing()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.liquid");

        var ex = Should.Throw<ProxyTemplateException>(() => ProxyTemplate.For(new ProxyOptions { TemplatePath = path }));

        ex.Message.ShouldContain(path);
        ex.Message.ShouldContain("cannot read the file");
    }

    [Test]
    public void Should_Reject_Two_Routes_For_The_Same_Host_And_Prefix()
    {
        var ex = Should.Throw<ArgumentException>(() => Render("nginx", Hello, Hello with { Service = "other" }));

        ex.Message.ShouldContain("Route 1 (other): path prefix '/' for any host is already routed");
    }
}
