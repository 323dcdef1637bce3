using Pipeline.Forecasting;
using Pipeline.Proxy;

namespace Pipeline.Tests.Forecasting;

public sealed class RequestRateQueryTests
{
    [TestCase("haproxy", "sum(max without (instance) (rate(haproxy_backend_http_requests_total{container=\"edge\",proxy=~\"shop_[0-9]+\"}[600s])))")]
    [TestCase("nginx", "sum(max without (instance) (rate(pipeline_route_requests_total{container=\"edge\",service=\"shop\"}[600s])))")]
    public void Should_Fill_The_Built_In_Query_Of_Each_Proxy(string kind, string expected)
    {
        var query = RequestRateQuery.Expand(RequestRateQuery.DefaultFor(ProxyKind.Parse(kind)), "shop", "edge");

        RequestRateQuery.WithWindow(query, TimeSpan.FromMinutes(10)).ShouldBe(expected);
    }

    [Test]
    public void Should_Have_A_Built_In_Query_For_Every_Proxy_Kind() =>
        ProxyKind.All.Select(RequestRateQuery.DefaultFor).ShouldAllBe(q => q.Contains("${service}") && q.Contains("${proxy_container}") && q.Contains("${window}"));
}
