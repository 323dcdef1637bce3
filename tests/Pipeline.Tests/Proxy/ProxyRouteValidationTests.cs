using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyRouteValidationTests
{
    private static readonly ProxyRoute Good = new("hello", "/api/", "api.example.com", "blue", "1.0.0", [new UpstreamEndpoint("172.18.0.5", 8080)]);

    private static IEnumerable<TestCaseData> Injections()
    {
        TestCaseData Case(string name, ProxyRoute route, string shownValue) => new TestCaseData(route, shownValue).SetName($"Should_Reject_{name}_Before_Rendering");

        yield return Case("Semicolon_In_Service", Good with { Service = "hello;deny" }, "'hello;deny'");
        yield return Case("Uppercase_Service", Good with { Service = "Hello" }, "'Hello'");
        yield return Case("Trailing_Newline_In_Service", Good with { Service = "hello\n" }, "'hello\\n'");
        yield return Case("Brace_In_Prefix", Good with { PathPrefix = "/api/}" }, "'/api/}'");
        yield return Case("Space_In_Prefix", Good with { PathPrefix = "/api/ x" }, "'/api/ x'");
        yield return Case("Newline_In_Prefix", Good with { PathPrefix = "/api/\nreturn 200;" }, "'/api/\\nreturn 200;'");
        yield return Case("Relative_Prefix", Good with { PathPrefix = "api/" }, "'api/'");
        yield return Case("Semicolon_In_Host", Good with { HostName = "evil.com;" }, "'evil.com;'");
        yield return Case("Wildcard_Host", Good with { HostName = "*.example.com" }, "'*.example.com'");
        yield return Case("Host_With_Port", Good with { HostName = "example.com:80" }, "'example.com:80'");
        yield return Case("Space_In_Colour", Good with { Color = "blue always" }, "'blue always'");
        yield return Case("Quote_In_Version", Good with { Version = "1.0\"" }, "'1.0\"'");
        yield return Case("Percent_In_Version", Good with { Version = "1.0%[env(HOME)]" }, "'1.0%[env(HOME)]'");
        yield return Case("Host_Name_As_Upstream", Good with { Upstreams = [new UpstreamEndpoint("backend.local", 80)] }, "'backend.local'");
        yield return Case("Semicolon_In_Upstream", Good with { Upstreams = [new UpstreamEndpoint("10.0.0.1;", 80)] }, "'10.0.0.1;'");
        yield return Case("Octet_Over_255", Good with { Upstreams = [new UpstreamEndpoint("10.0.0.256", 80)] }, "'10.0.0.256'");
        yield return Case("Leading_Zero_Octet", Good with { Upstreams = [new UpstreamEndpoint("010.0.0.1", 80)] }, "'010.0.0.1'");
        yield return Case("IPv6_Zone", Good with { Upstreams = [new UpstreamEndpoint("fe80::1%eth0", 80)] }, "'fe80::1%eth0'");
        yield return Case("Port_Zero", Good with { Upstreams = [new UpstreamEndpoint("10.0.0.1", 0)] }, "port 0");
        yield return Case("Port_Too_High", Good with { Upstreams = [new UpstreamEndpoint("10.0.0.1", 65536)] }, "port 65536");
        yield return Case("No_Upstreams", Good with { Upstreams = [] }, "has no upstreams");
        yield return Case("Semicolon_In_Standby_Colour", Good with { Standby = new StandbyRelease("green;", "1.0.0", Good.Upstreams) }, "'green;'");
        yield return Case("Standby_With_The_Live_Colour", Good with { Standby = new StandbyRelease("blue", "1.0.0", Good.Upstreams) }, "has the live colour 'blue'");
        yield return Case("Percent_In_Standby_Version", Good with { Standby = new StandbyRelease("green", "1%[env(HOME)]", Good.Upstreams) }, "'1%[env(HOME)]'");
        yield return Case("Host_Name_As_Standby_Upstream", Good with { Standby = new StandbyRelease("green", "1.0.0", [new UpstreamEndpoint("old.local", 80)]) }, "'old.local'");
    }

    [TestCaseSource(nameof(Injections))]
    public void Should_Reject_Unsafe_Values(ProxyRoute route, string shownValue)
    {
        foreach (var kind in ProxyKind.All)
        {
            // Given a route with one unsafe value / When rendered
            var ex = Should.Throw<ArgumentException>(() => ProxyTemplate.BuiltIn(kind).Render(kind, [route]));

            // Then rendering stops, naming the value
            ex.Message.ShouldContain(shownValue);
            ex.Message.ShouldStartWith("Route 0");
        }
    }

    [Test]
    public void Should_Name_The_Route_By_Index_And_Service()
    {
        var bad = Good with { Service = "second", PathPrefix = "/x;" };

        var ex = Should.Throw<ArgumentException>(() => ProxyRouteValidation.Validate([Good, bad]));

        ex.Message.ShouldBe("Route 1 (second): path prefix '/x;' is not allowed in a proxy config; use '/' followed by letters, digits, '.', '_', '~', '-' or '/'. (Parameter 'routes')");
    }

    [TestCase("172.18.0.5", true)]
    [TestCase("0.0.0.0", true)]
    [TestCase("fd00::5", true)]
    [TestCase("::1", true)]
    [TestCase("1.2.3", false)]
    [TestCase("1", false)]
    [TestCase("", false)]
    [TestCase("172.18.0.5\n", false)]
    public void Should_Accept_Only_Plain_IP_Addresses(string value, bool expected)
    {
        ProxyRouteValidation.IsIpAddress(value).ShouldBe(expected);
    }

    [TestCase("api.example.com", true)]
    [TestCase("localhost", true)]
    [TestCase("-bad.example.com", false)]
    [TestCase("a..b", false)]
    [TestCase("example.com\n", false)]
    public void Should_Accept_Only_DNS_Host_Names(string value, bool expected)
    {
        ProxyRouteValidation.IsHostName(value).ShouldBe(expected);
    }
}
