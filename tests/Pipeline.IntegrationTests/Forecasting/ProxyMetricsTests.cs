using Pipeline.Docker;
using Pipeline.Forecasting;
using Pipeline.Metrics;
using Pipeline.Provisioning;
using Pipeline.Proxy;

namespace Pipeline.IntegrationTests.Forecasting;

/// <summary>
/// The whole metrics path, real, for each proxy: its container rendered from the built-in template, a Prometheus with
/// the configuration ProvisionLocalServices writes (limited to this test's container) finding it through Docker
/// service discovery, and the built-in request-rate query reading the requests sent through the proxy.
/// </summary>
[NonParallelizable]
[TestFixture("haproxy")]
[TestFixture("nginx")]
public sealed class ProxyMetricsTests(string kind)
{
    private const string Service = "metered";
    private IDockerEngine _engine = null!;
    private ContainerProxy _proxy = null!;
    private string _network = null!;
    private PrometheusInstance? _prometheus;
    private HttpClient _http = null!;

    [OneTimeSetUp]
    public async Task StartProxyAndPrometheus()
    {
        _engine = new DockerEngine(TestEnvironment.Docker);
        _network = TestEnvironment.UniqueName("metrics-net");
        _proxy = ProxyFactory.Create(new ProxyOptions
        {
            Kind = ProxyKind.Parse(kind),
            ContainerName = TestEnvironment.UniqueName("metrics-proxy"),
            Network = _network,
            ListenPort = TestEnvironment.FreePort(),
            Labels = new Dictionary<string, string> { ["pipeline.test"] = "true" },
        }, _engine);
        await _proxy.EnsureRunningAsync();

        // The route's upstream is the proxy's own metrics port, which answers 404 to any path but /metrics: a fast
        // upstream without another container. Every request is counted on the route (HAProxy: its backend).
        await _proxy.ApplyAsync(_proxy.Render([new ProxyRoute(Service, "/", null, "blue", "1.0.0", [new UpstreamEndpoint("127.0.0.1", ProxyOptions.MetricsPort)])]));
        _http = new HttpClient { BaseAddress = _proxy.PublicUrl, Timeout = TimeSpan.FromSeconds(10) };

        _prometheus = await PrometheusInstance.StartAsync(null, PrometheusService.Config(TestEnvironment.Docker.Host, TimeSpan.FromSeconds(1), onlyContainer: _proxy.Options.ContainerName));
    }

    [OneTimeTearDown]
    public async Task RemoveEverything()
    {
        _http?.Dispose();
        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }

        if (_engine is not null)
        {
            await _engine.RemoveContainerAsync(_proxy.Options.ContainerName);
            await _engine.RemoveNetworkAsync(_network);
            _engine.Dispose();
        }
    }

    [Test]
    public async Task Should_Count_Requests_Through_The_Proxy_In_Prometheus_With_The_Built_In_Query()
    {
        // Given: 25 requests through the proxy
        for (var i = 0; i < 25; i++)
        {
            using var response = await _http.GetAsync($"/request-{i}");
            ((int)response.StatusCode).ShouldBe(404);
        }

        // When Prometheus has scraped the proxy's exporter
        using var client = new PrometheusClient(_prometheus!.Url);
        var container = _proxy.Options.ContainerName;
        var counter = kind == "nginx"
            ? $"sum(max without (instance) (pipeline_route_requests_total{{job=\"{PrometheusService.ProxyJob}\",container=\"{container}\",route=~\"{Service}_[0-9]+\",service=\"{Service}\",code=\"4xx\"}}))"
            : $"sum(max without (instance) (haproxy_backend_http_requests_total{{job=\"{PrometheusService.ProxyJob}\",container=\"{container}\",proxy=~\"{Service}_[0-9]+\"}}))";
        var counted = await EventuallyAsync(client, counter, value => value >= 25);

        // Then: the route's backend counted them, and the built-in query gives a rate for the service
        counted.ShouldBe(25);
        var rates = new RequestRates(client, RequestRateQuery.Expand(RequestRateQuery.DefaultFor(ProxyKind.Parse(kind)), Service, container));
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                using var response = await _http.GetAsync("/more");
                await Task.Delay(100);
            }
        });
        await sending;
        var rate = await EventuallyAsync(client, RequestRateQuery.WithWindow(rates.Query, TimeSpan.FromSeconds(30)), value => value > 0);
        rate.ShouldBeGreaterThan(0);
        (await rates.CurrentAsync(DateTimeOffset.UtcNow, TimeSpan.FromSeconds(30))).ShouldNotBeNull().Value.ShouldBeGreaterThan(0);
    }

    private async Task<double> EventuallyAsync(PrometheusClient client, string query, Func<double, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = "no result yet";
        while (DateTime.UtcNow < deadline)
        {
            var result = await client.QueryAsync(query, DateTimeOffset.UtcNow);
            if (result.Count == 1 && done(result[0].Samples[0].Value))
            {
                return result[0].Samples[0].Value;
            }

            last = result.Count == 0 ? "empty" : string.Join(", ", result.Select(r => $"{r.DescribeLabels()} {r.Samples[0].Value}"));
            await Task.Delay(500);
        }

        var targets = await new HttpClient().GetStringAsync(new Uri(_prometheus!.Url, "api/v1/targets"));
        Assert.Fail($"{query} never reached the expected value (last: {last}). Targets: {targets}\nPrometheus log:\n{_prometheus.LogTail()}");
        return 0;
    }
}
