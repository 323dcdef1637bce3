using Pipeline.Proxy;
using Pipeline.Tests.Provisioning;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyTemplateTests
{
    private static readonly ProxyRoute Hello = new("hello", "/", null, "blue", "1.0.0", [new UpstreamEndpoint("172.18.0.5", 8080)]);
    private static readonly ProxyRoute Api = new("api", "/api/", null, "green", "2.1.0+build.7", [new UpstreamEndpoint("172.18.0.6", 8080), new UpstreamEndpoint("172.18.0.7", 8081)]);
    private static readonly ProxyRoute ApiV2 = new("api-v2", "/api/v2/", null, "blue", "3.0.0", [new UpstreamEndpoint("172.18.0.8", 80)]);
    private static readonly ProxyRoute Admin = new("admin", "/", "Admin.Example.com", "green", "4.0.0", [new UpstreamEndpoint("172.18.0.9", 80)]);

    private static string Render(string kind, params ProxyRoute[] routes) => ProxyTemplate.BuiltIn(ProxyKind.Parse(kind)).Render(ProxyKind.Parse(kind), routes);

    private static ContainerProxy Proxy(string kind) => ProxyFactory.Create(new ProxyOptions { Kind = ProxyKind.Parse(kind) }, new FakeImageEngine());

    /// <summary>Routes are equal when every field and every upstream is.</summary>
    private sealed class RouteComparer : IEqualityComparer<ProxyRoute>
    {
        public bool Equals(ProxyRoute? x, ProxyRoute? y) =>
            x is not null && y is not null
            && (x.Service, x.PathPrefix, x.HostName, x.Color, x.Version) == (y.Service, y.PathPrefix, y.HostName, y.Color, y.Version)
            && x.Upstreams.SequenceEqual(y.Upstreams)
            && (x.Standby is null ? y.Standby is null
                : y.Standby is not null && (x.Standby.Color, x.Standby.Version) == (y.Standby.Color, y.Standby.Version) && x.Standby.Upstreams.SequenceEqual(y.Standby.Upstreams));

        public int GetHashCode(ProxyRoute obj) => obj.Service.GetHashCode(StringComparison.Ordinal);
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Keep_Every_Line_Of_A_Big_Config_Under_The_Limit_nginx_Reads_And_Read_Its_State_Back(string kind)
    {
        // Given 300 routes (a state far longer than the 4 KiB nginx allows on one line)
        var routes = Enumerable.Range(1, 300)
            .Select(i => new ProxyRoute($"svc{i}", $"/svc{i}/", null, "blue", "1.0.0", [new UpstreamEndpoint($"172.18.{i / 250}.{i % 250 + 2}", 8080)]))
            .ToList();

        // When rendered
        var config = Proxy(kind).Render(routes);

        // Then no line is longer than 4 KiB, and the state read back has every route and every upstream
        config.Split('\n').Max(l => l.Length).ShouldBeLessThan(4096);
        ProxyDocument.Parse(config).Routes.ShouldNotBeNull().Count.ShouldBe(300);
        ProxyConfigAddresses.Upstreams(config).Count.ShouldBe(300);
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Find_Only_Upstream_And_Unreachable_Addresses_In_A_Built_In_Config(string kind)
    {
        // Given a config of two routes, one with an IPv6 upstream (the nginx one's Lua indexes arrays: peer[1], peer[2])
        var v6 = Hello with { Upstreams = [new UpstreamEndpoint("fd00::5", 8080)] };
        var config = Proxy(kind).Render([v6, Api]);

        // When its address literals are read
        var found = ProxyConfigAddresses.Literals(config);

        // Then they are the upstreams, plus only loopback or 0.0.0.0/8 stand-ins (nothing a rollback would call foreign)
        found.ShouldContain("fd00::5");
        found.ShouldContain("172.18.0.7");
        found.Where(a => !a.StartsWith("0.", StringComparison.Ordinal) && !a.StartsWith("127.", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ShouldBe(["172.18.0.6", "172.18.0.7", "fd00::5"]);
        ProxyConfigAddresses.Literals("local peer = peers[2]; set_current_peer(peer[1], peer[2])").ShouldBeEmpty();
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Answer_503_For_Everything_When_There_Are_No_Routes(string kind)
    {
        // Given no routes / When rendered
        var config = Render(kind);

        // Then the only handler is the 503 one
        if (kind == "nginx")
        {
            config.ShouldContain("ngx.status = 503");
            config.ShouldContain("ngx.say(\"No route for this request.\")");
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
    public void Should_Keep_Routes_Out_Of_The_Nginx_Config_So_A_New_Route_Needs_No_Reload()
    {
        // Given one route, then four with hosts, prefixes and a switched colour
        var one = Render("nginx", Hello);
        var four = Render("nginx", Hello with { Color = "green", Version = "1.1.0" }, Api, ApiV2, Admin);

        // Then the config text is the same: the routes are in the state file, loaded by Lua, changed through the admin socket
        four.ShouldBe(one);
        one.ShouldContain($"io.open(\"{NginxProxy.StatePath}\", \"r\")");
        one.ShouldContain($"listen unix:{NginxProxy.AdminSocket};");
        one.ShouldContain("load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;");
        one.ShouldContain("balancer_by_lua_block { pipeline.balance() }");
        one.ShouldContain("keepalive 32;");
        one.ShouldContain("proxy_http_version 1.1;");
        one.ShouldContain("proxy_set_header Connection \"\";");
        one.ShouldContain("proxy_connect_timeout 2s;");
        one.ShouldContain("proxy_pass http://pipeline_release;", customMessage: "no URI part: the path reaches the upstream unchanged");
    }

    [Test]
    public void Should_Serve_The_Nginx_Request_Counters_On_The_Metrics_Port_Counted_As_Each_Request_Ends()
    {
        var config = Render("nginx", Hello);

        config.ShouldContain($"listen {ProxyOptions.MetricsPort};\n        access_log off;\n\n        location = /metrics {{\n            content_by_lua_block {{ pipeline.metrics() }}");
        config.ShouldContain("log_by_lua_block { pipeline.done() }");
        config.ShouldContain("\"pipeline_route_requests_total\"");
        config.ShouldNotContain("{{");
    }

    [Test]
    public void Should_Write_Nginx_Routes_Longest_Prefix_First_With_Every_Registered_Colour()
    {
        // Given host-less and host routes, one with a standby release
        var proxy = Proxy("nginx");
        var api = Api with { Standby = new StandbyRelease("blue", "2.0.0", [new UpstreamEndpoint("fd00::5", 8080)]) };

        // When its state file is made
        var state = proxy.CompanionFor(Hello, api, ApiV2, Admin).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        // Then each route has a line (longest prefix first, a host route before a host-less one) and one line per release
        state.ShouldBe([
            "route api-v2_0 api-v2 blue * /api/v2/",
            "release api-v2_0 blue 3.0.0 172.18.0.8:80",
            "route api_1 api green * /api/",
            "release api_1 blue 2.0.0 [fd00::5]:8080",
            "release api_1 green 2.1.0+build.7 172.18.0.6:8080,172.18.0.7:8081",
            "route admin_2 admin green admin.example.com /",
            "release admin_2 green 4.0.0 172.18.0.9:80",
            "route hello_3 hello blue * /",
            "release hello_3 blue 1.0.0 172.18.0.5:8080",
        ]);
    }

    [Test]
    public void Should_Give_Each_HAProxy_Route_A_Server_Per_Colour_With_Only_The_Live_One_Ready()
    {
        // Given api live on green (two upstreams) with blue registered beside it, and hello on blue alone
        var api = Api with { Standby = new StandbyRelease("blue", "2.0.0", [new UpstreamEndpoint("172.18.0.4", 8080)]) };
        var config = Render("haproxy", api, Hello);

        // Then every route has blue and green servers; the live colour's are ready, the others disabled; a colour
        // without a release is a disabled placeholder
        const string Check = " check inter 1s fall 2 rise 2";
        config.ShouldMatch($@"backend api_0\n(.*\n)*    server blue 172\.18\.0\.4:8080{Check} disabled\n    server green 172\.18\.0\.6:8080{Check}\n    server green_2 172\.18\.0\.7:8081{Check}\n");
        config.ShouldMatch($@"backend hello_1\n(.*\n)*    server blue 172\.18\.0\.5:8080{Check}\n    server green 127\.0\.0\.1:9{Check} disabled\n");
        config.ShouldContain("option redispatch 1", customMessage: "a request whose connection to the old colour fails must go to the new one");
        config.ShouldContain("expose-fd listeners", customMessage: "reloads hand the listening sockets over");
    }

    [TestCase("nginx", "ngx.header[\"X-Pipeline-{0}\"] = ")]
    [TestCase("haproxy", "http-response set-header X-Pipeline-{0} ")]
    public void Should_Add_Colour_Service_And_Version_Headers(string kind, string format)
    {
        // Given a green api route / When rendered
        var config = Render(kind, Api);

        // Then the answers carry the pipeline headers, taken from the member that answered (not written as literals,
        // so a switch does not need a new config)
        config.ShouldContain(string.Format(format, "Color"));
        config.ShouldContain(string.Format(format, "Service"));
        config.ShouldContain(string.Format(format, "Version"));
        if (kind == "haproxy")
        {
            config.ShouldContain("http-response set-header X-Pipeline-Service api");
            config.ShouldContain("http-response set-header X-Pipeline-Color %[var(txn.pipeline_color)]");
            config.ShouldContain($"map({HaproxyProxy.MapPath},unknown)");
        }
    }

    [Test]
    public void Should_Map_Each_HAProxy_Route_And_Colour_To_Its_Version()
    {
        var api = Api with { Standby = new StandbyRelease("blue", "2.0.0", [new UpstreamEndpoint("172.18.0.4", 8080)]) };

        Proxy("haproxy").CompanionFor(api, Hello).ShouldBe("api_0/blue 2.0.0\napi_0/green 2.1.0+build.7\nhello_1/blue 1.0.0\n");
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
        config.ShouldContain("timeout connect 2s");
        config.ShouldContain("option idle-close-on-response", customMessage: "without it a reload closes idle keep-alive connections under the clients");
        config.ShouldContain("retry-on conn-failure empty-response response-timeout", customMessage: "without it a GET whose replica's node is lost mid-request fails");
        config.ShouldContain("http-request disable-l7-retry if !METH_GET", customMessage: "only idempotent requests are sent twice");
    }

    [Test]
    public void Should_Bracket_IPv6_Upstreams()
    {
        var route = Hello with { Upstreams = [new UpstreamEndpoint("fd00::5", 8080)] };

        Render("haproxy", route).ShouldContain("server blue [fd00::5]:8080");
        Proxy("nginx").CompanionFor(route).ShouldContain("release hello_0 blue 1.0.0 [fd00::5]:8080");
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Keep_The_Shape_When_Only_The_Live_Colour_Addresses_And_Versions_Change(string kind)
    {
        // Given blue live, then green live at a new address with a new version and blue registered beside it
        var template = ProxyTemplate.BuiltIn(ProxyKind.Parse(kind));
        var before = template.Shape(ProxyKind.Parse(kind), [Hello, Api]);
        var after = template.Shape(ProxyKind.Parse(kind), [
            Hello with { Color = "green", Version = "1.1.0", Upstreams = [new UpstreamEndpoint("172.18.0.20", 8080)], Standby = new StandbyRelease("blue", "1.0.0", Hello.Upstreams) },
            Api]);

        // Then the shape is the same, and the built-in template prints nothing a runtime change cannot change
        after.ShouldBe(before);
        before.PrintsLiveValues.ShouldBeFalse();
        before.PrintsMemberVersions.ShouldBeFalse();
        before.PrintsMemberAddresses.ShouldBe(kind == "haproxy");
    }

    [Test]
    public void Should_Change_The_HAProxy_Shape_When_A_Route_Is_Added_But_Not_The_Nginx_One()
    {
        ProxyTemplate.BuiltIn(ProxyKind.Parse("haproxy")).Shape(ProxyKind.Parse("haproxy"), [Hello, Api])
            .ShouldNotBe(ProxyTemplate.BuiltIn(ProxyKind.Parse("haproxy")).Shape(ProxyKind.Parse("haproxy"), [Hello]));
        ProxyTemplate.BuiltIn(ProxyKind.Parse("nginx")).Shape(ProxyKind.Parse("nginx"), [Hello, Api])
            .ShouldBe(ProxyTemplate.BuiltIn(ProxyKind.Parse("nginx")).Shape(ProxyKind.Parse("nginx"), [Hello]));
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Record_The_Routes_In_The_Config_Header_And_Read_Them_Back(string kind)
    {
        // Given routes with a standby release and an IPv6 upstream
        var api = Api with { Standby = new StandbyRelease("blue", "2.0.0", [new UpstreamEndpoint("fd00::5", 8080)]) };

        // When rendered by the proxy and read back
        var text = Proxy(kind).Render([api, Admin]);
        var document = ProxyDocument.Parse(text);

        // Then the header holds what was rendered, and a switch between such configs can be made at runtime
        text.ShouldStartWith("# pipeline-proxy-state: {");
        document.Runtime.ShouldBeTrue();
        document.Shape.ShouldNotBeNullOrEmpty();
        document.Routes.ShouldNotBeNull().Count.ShouldBe(2);
        document.Routes[0].ShouldBe(api, new RouteComparer());
        document.Routes[1].ShouldBe(Admin, new RouteComparer());
    }

    [TestCase("nginx")]
    [TestCase("haproxy")]
    public void Should_Reload_For_A_Switch_When_A_User_Template_Prints_The_Live_Colour(string kind)
    {
        // Given a user template that writes the colour into the config text
        var path = Path.Combine(Path.GetTempPath(), $"proxy-template-{Guid.NewGuid():N}.liquid");
        File.WriteAllText(path, "{% for r in routes %}# {{ r.service }} is {{ r.color }}\n{% endfor %}");
        try
        {
            // When rendered / Then its switches cannot be made at runtime (the text itself changes)
            var proxy = ProxyFactory.Create(new ProxyOptions { Kind = ProxyKind.Parse(kind), TemplatePath = path }, new FakeImageEngine());
            ProxyDocument.Parse(proxy.Render([Hello])).Runtime.ShouldBeFalse();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Should_Treat_A_Config_Without_The_Header_As_Foreign()
    {
        var document = ProxyDocument.Parse("global\n    maxconn 10\n");

        (document.Shape, document.Runtime, document.Routes).ShouldBe((null, false, null));
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
