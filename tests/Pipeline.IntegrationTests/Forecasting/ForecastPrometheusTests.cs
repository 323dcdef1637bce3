using System.Globalization;
using System.Text;
using System.Text.Json;
using Pipeline.Configuration;
using Pipeline.Forecasting;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.Metrics;
using Pipeline.Proxy;

namespace Pipeline.IntegrationTests.Forecasting;

/// <summary>
/// The forecast against a real Prometheus holding 14 days of synthetic request counters with known answers, one
/// per service, as HAProxy's exporter names them (<c>haproxy_backend_http_requests_total{container="synthetic",
/// proxy="{service}_0"}</c>), so the built-in query reads them. Backfilled with promtool into a private Prometheus.
/// </summary>
/// <remarks>
/// Tolerance: every forecast hour within <see cref="Tolerance"/> of the generating function's hourly mean: the 6 % of
/// the in-memory tests (RateForecasterTests, where that figure is justified) plus 1 % for Prometheus'
/// <c>rate(...[1h])</c>, which sees 59 of an hour's 60 one-minute increments and extrapolates the missing one, and for
/// the history ending at a minute that is not on the hour.
/// </remarks>
[NonParallelizable]
public sealed class ForecastPrometheusTests
{
    private const double Tolerance = 0.07;
    private const int Days = 14;
    private const string Container = "synthetic";
    private const string NginxContainer = "synthetic-nginx";
    private static readonly TimeSpan SpikeBefore = TimeSpan.FromDays(3.5);
    private static readonly TimeSpan RecentSpikeEnd = TimeSpan.FromMinutes(4);

    private PrometheusInstance _prometheus = null!;
    private DateTimeOffset _now;
    private Dictionary<string, SyntheticTraffic> _traffic = null!;
    private string _serviceDir = null!;

    [OneTimeSetUp]
    public async Task BackfillAndStart()
    {
        var now = DateTimeOffset.UtcNow;
        _now = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
        var hour = new DateTimeOffset(_now.UtcTicks - (_now.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);
        var start = _now - TimeSpan.FromDays(Days + 1);
        var recent = SyntheticTraffic.DailyPattern();
        _traffic = new[]
        {
            SyntheticTraffic.DailyPattern(),
            SyntheticTraffic.WeeklyPattern(hour),
            SyntheticTraffic.GrowingTrend(hour, Days),
            SyntheticTraffic.OneOffSpike(hour, SpikeBefore),
            SyntheticTraffic.WithGaps(hour, Days),
            SyntheticTraffic.BrandNew(_now, 20),
            recent with { Name = "aftershock", Rate = t => recent.Rate(t) * (t >= _now - RecentSpikeEnd - TimeSpan.FromMinutes(30) && t < _now - RecentSpikeEnd ? 8 : 1) },
        }.ToDictionary(t => t.Name);

        var metrics = new StringBuilder("# HELP haproxy_backend_http_requests_total Total number of HTTP requests received.\n# TYPE haproxy_backend_http_requests_total counter\n");
        foreach (var traffic in _traffic.Values)
        {
            traffic.WriteOpenMetrics(metrics, "haproxy_backend_http_requests_total", $"container=\"{Container}\",instance=\"10.0.0.1:8405\",job=\"pipeline-proxy\",proxy=\"{traffic.Name}_0\"", start, _now);
        }

        // The daily pattern once more as nginx's counter names it, split over two colours and status classes (the
        // built-in nginx query sums them)
        var daily = _traffic["daily"];
        metrics.Append("# HELP pipeline_route_requests_total Requests nginx answered per route.\n# TYPE pipeline_route_requests_total counter\n");
        foreach (var (share, color, code) in new[] { (0.7, "blue", "2xx"), (0.2, "green", "2xx"), (0.1, "blue", "5xx") })
        {
            (daily with { Rate = t => daily.Rate(t) * share }).WriteOpenMetrics(metrics, "pipeline_route_requests_total",
                $"code=\"{code}\",color=\"{color}\",container=\"{NginxContainer}\",instance=\"10.0.0.2:8405\",job=\"pipeline-proxy\",route=\"daily_0\",service=\"daily\"", start, _now);
        }

        metrics.Append("# EOF\n");
        _prometheus = await PrometheusInstance.StartAsync(metrics.ToString(), "global:\n  scrape_interval: 15s\nscrape_configs: []\n");
        TestContext.Progress.WriteLine($"promtool backfilled {metrics.Length / 1024} KiB of OpenMetrics in {_prometheus.BackfillTime.TotalMilliseconds:0} ms");

        _serviceDir = Path.Combine(Directory.CreateTempSubdirectory("forecast-service-").FullName, "daily");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (_prometheus is not null)
        {
            await _prometheus.DisposeAsync();
        }

        if (_serviceDir is not null)
        {
            Directory.Delete(Path.GetDirectoryName(_serviceDir)!, recursive: true);
        }
    }

    private RequestRates RatesOf(string service, PrometheusClient client) =>
        new(client, RequestRateQuery.Expand(RequestRateQuery.HaproxyDefault, service, Container));

    [TestCase("daily")]
    [TestCase("weekly")]
    [TestCase("trend")]
    [TestCase("spike")]
    [TestCase("gaps")]
    public async Task Should_Forecast_Within_Tolerance_Of_The_Known_Answer(string service)
    {
        // Given 14 days of history in Prometheus
        var traffic = _traffic[service];
        using var client = new PrometheusClient(_prometheus.Url);

        // When the history is read with the built-in query and forecast
        var history = await RatesOf(service, client).HistoryAsync(_now, Days);
        var forecast = RateForecaster.Forecast(history, 48);

        // Then every hour is within the tolerance of the generating function, and the held-out error is reported
        forecast.Status.ShouldBe(ForecastStatus.Ready);
        forecast.Points.Count.ShouldBe(48);
        var errors = forecast.Points.Select(p => (p.HourStart, Error: Math.Abs(p.Rate - traffic.ExpectedHour(p.HourStart)) / traffic.ExpectedHour(p.HourStart))).ToList();
        var worst = errors.MaxBy(e => e.Error);
        TestContext.Progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"forecast {service}: MAPE on the held-out day {forecast.HeldOut!.Mape:0.00} % ({forecast.HeldOut.Hours} h); 48 h against the known answer: mean {errors.Average(e => e.Error) * 100:0.00} %, worst {worst.Error * 100:0.00} % at {worst.HourStart:u}; weekly season {forecast.Model!.WeeklySeason}, growth {forecast.Model.GrowthPerDay * 100:0.00} %/day; {history.ObservedHours} of {history.Values.Count} hours with data"));
        worst.Error.ShouldBeLessThan(Tolerance, $"{service}: the forecast for {worst.HourStart:u}");
        forecast.HeldOut.Mape!.Value.ShouldBeLessThan(Tolerance * 100);
        if (service == "weekly")
        {
            forecast.Model.WeeklySeason.ShouldBeTrue();
        }

        if (service == "gaps")
        {
            history.ObservedHours.ShouldBeLessThan(history.Values.Count - 24, "the gaps reach the forecast as missing hours");
        }
    }

    [Test]
    public async Task Should_Read_The_Same_History_From_Nginx_Counters_With_Its_Built_In_Query()
    {
        using var client = new PrometheusClient(_prometheus.Url);
        var haproxy = await RatesOf("daily", client).HistoryAsync(_now, Days);

        var nginx = await new RequestRates(client, RequestRateQuery.Expand(RequestRateQuery.DefaultFor(ProxyKind.Nginx), "daily", NginxContainer)).HistoryAsync(_now, Days);

        nginx.Values.Count.ShouldBe(haproxy.Values.Count);
        nginx.ObservedHours.ShouldBe(haproxy.ObservedHours);
        for (var i = 0; i < nginx.Values.Count; i++)
        {
            if (double.IsNaN(haproxy.Values[i]))
            {
                double.IsNaN(nginx.Values[i]).ShouldBeTrue($"hour {i}");
                continue;
            }

            nginx.Values[i].ShouldBe(haproxy.Values[i], haproxy.Values[i] * 1e-3, $"hour {i}");
        }
    }

    [Test]
    public void Should_Forecast_An_Nginx_Proxied_Service_Without_A_Query()
    {
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", "--proxy=nginx", $"--proxy-container={NginxContainer}", "--forecast-hours=24"]);

        run.ExitCode.ShouldBe(0, run.All);
        run.Out.ShouldContain("pipeline_route_requests_total{container=\"synthetic-nginx\",service=\"daily\"}");
        run.Out.ShouldMatch(@"\nMAPE \d+\.\d % on the held-out day");
        run.Out.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d{4}-\d\d-\d\d \d\d:00\s+\d+(\.\d+)?\s+\d+\s*$")).ShouldBe(24);
    }

    [Test]
    public async Task Should_Say_Too_Little_History_For_A_Brand_New_Service_And_Not_Scale()
    {
        using var client = new PrometheusClient(_prometheus.Url);
        var rates = RatesOf("new", client);

        var forecast = RateForecaster.Forecast(await rates.HistoryAsync(_now, Days), 48);
        var decision = ScalingPlanner.Plan(
            new ScalingInput(1, forecast, await rates.ObservedAsync(_now, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2)), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), _now),
            new ScalingOptions { CapacityPerReplica = 10 });

        forecast.Status.ShouldBe(ForecastStatus.TooLittleHistory);
        forecast.History.ObservedHours.ShouldBeInRange(18, 20);
        forecast.Message!.ShouldStartWith("Too little history to forecast: a forecast needs 3 days of request rates");
        decision.Action.ShouldBe(ScalingAction.Hold);
        decision.TargetReplicas.ShouldBe(1);
    }

    [Test]
    public async Task Should_Not_Scale_In_After_A_One_Off_Spike()
    {
        // Given: a spike 3.5 days ago (history) and one that ended 4 minutes ago (observed); 8 replicas run since the latter
        using var client = new PrometheusClient(_prometheus.Url);
        var options = new ScalingOptions { CapacityPerReplica = 40, Headroom = 1, StabilizationWindow = TimeSpan.FromMinutes(5) };
        var decisions = new List<ScalingDecision>();
        foreach (var service in new[] { "spike", "aftershock" })
        {
            var rates = RatesOf(service, client);
            var forecast = RateForecaster.Forecast(await rates.HistoryAsync(_now, Days), 48);
            var observed = await rates.ObservedAsync(_now, TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2));
            var normal = options.ReplicasFor(observed[^1].Value);

            // "spike": the replicas today's load needs (what the load now needs, or what the planner scales out to first);
            // "aftershock": those the spike needed, as Prometheus measured it (the rate it computes can sit just under a
            // multiple of the capacity where the synthetic rate is just over: at 02:20 UTC 159.88 against 160.3 req/s)
            ScalingDecision PlanWith(int replicas) =>
                ScalingPlanner.Plan(new ScalingInput(replicas, forecast, observed, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(5), _now), options);
            var current = service == "spike"
                ? PlanWith(normal) is { Action: ScalingAction.ScaleOut } first ? first.TargetReplicas : normal
                : options.ReplicasFor(observed.Where(s => s.Time >= _now - options.StabilizationWindow).Max(s => s.Value));
            decisions.Add(PlanWith(current));
            TestContext.Progress.WriteLine($"{service}: {current} replicas, observed now {observed[^1].Value:0.#} req/s (needs {normal}): {decisions[^1].Action} - {decisions[^1].Reason}");

            // The spike's hours of the day are not forecast high: within the tolerance of the rate without it
            foreach (var point in forecast.Points)
            {
                var expected = _traffic["daily"].ExpectedHour(point.HourStart);
                (Math.Abs(point.Rate - expected) / expected).ShouldBeLessThan(Tolerance, $"{service} at {point.HourStart:u}");
            }
        }

        // Then: no scale-in, neither on the history's spike nor while the recent one is inside the stabilisation window
        decisions.ShouldAllBe(d => d.Action == ScalingAction.Hold);
        decisions[1].CurrentReplicas.ShouldBeGreaterThan(options.ReplicasFor(_traffic["daily"].Rate(_now)), "the aftershock case runs more replicas than the load needs now");
        decisions[1].Reason.ShouldContain("the observed peak over the last 300 s");
    }

    [Test]
    public async Task Should_Scale_Out_To_The_Forecast_Peak_Within_The_Start_Up_Time()
    {
        // Given: 1 replica; a start-up time of 23 hours puts the daily peak (15:00 UTC, ~80 req/s) inside the look-ahead,
        // and at 30 req/s per replica the peak needs 3 (the thresholds, 60 and 90 req/s, are far from 80)
        using var client = new PrometheusClient(_prometheus.Url);
        var rates = RatesOf("daily", client);
        var forecast = RateForecaster.Forecast(await rates.HistoryAsync(_now, Days), 48);
        var observed = await rates.ObservedAsync(_now, TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2));

        var decision = ScalingPlanner.Plan(
            new ScalingInput(1, forecast, observed, TimeSpan.FromMinutes(1), TimeSpan.FromHours(23), _now),
            new ScalingOptions { CapacityPerReplica = 30, Headroom = 1 });

        decision.Action.ShouldBe(ScalingAction.ScaleOut);
        decision.TargetReplicas.ShouldBe(3);
        decision.Reason.ShouldStartWith("Scale out from 1 to 3: the forecast ");
        decision.MayAct.ShouldBeFalse("forecast-only by default");
    }

    [Test]
    public void Should_Print_The_Forecast_Table_And_The_Mape()
    {
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", $"--proxy-container={Container}", "--forecast-hours=24"]);

        run.ExitCode.ShouldBe(0, run.All);
        run.Out.ShouldContain($"Forecast of daily's request rate from Prometheus {_prometheus.Url} (reads only; changes nothing)");
        run.Out.ShouldContain("hour (UTC)             req/s replicas");
        run.Out.ShouldMatch(@"\nMAPE \d+\.\d % on the held-out day \d{4}-\d\d-\d\d \d\d:00 to \d{4}-\d\d-\d\d \d\d:00 UTC \(24 hours\)");
        run.Out.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d{4}-\d\d-\d\d \d\d:00\s+\d+(\.\d+)?\s+\d+\s*$")).ShouldBe(24);
    }

    [Test]
    public void Should_Write_Json_Alone_With_Format_Json_And_Quiet()
    {
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", $"--proxy-container={Container}", "--format=json", "--verbosity=quiet", "--capacity-per-replica=30", "--headroom=1"]);

        run.ExitCode.ShouldBe(0, run.All);
        using var json = JsonDocument.Parse(run.Out);
        var root = json.RootElement;
        root.GetProperty("service").GetString().ShouldBe("daily");
        root.GetProperty("status").GetString().ShouldBe("ready");
        root.GetProperty("heldOut").GetProperty("mape").GetDouble().ShouldBeLessThan(Tolerance * 100);
        var points = root.GetProperty("forecast").EnumerateArray().ToList();
        points.Count.ShouldBe(48);
        foreach (var point in points)
        {
            var rate = point.GetProperty("rate").GetDouble();
            point.GetProperty("replicas").GetInt32().ShouldBe((int)Math.Clamp(Math.Ceiling(rate / 30), 1, 10));
        }
    }

    [Test]
    public void Should_Say_Too_Little_History_Through_The_Target_And_Succeed()
    {
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", $"--proxy-container={Container}", "--service=new"]);

        run.ExitCode.ShouldBe(0, run.All);
        run.Out.ShouldContain("Too little history to forecast: a forecast needs 3 days of request rates");
        run.Out.ShouldNotContain("MAPE");
    }

    [Test]
    public async Task Should_Refuse_A_Query_That_Returns_Nothing()
    {
        using var client = new PrometheusClient(_prometheus.Url);

        var error = await Should.ThrowAsync<PrometheusEmptyResultException>(() => RatesOf("unknown", client).HistoryAsync(_now, Days));
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", $"--proxy-container={Container}", "--service=unknown"]);

        error.Message.ShouldStartWith($"The query sum(max without (instance) (rate(haproxy_backend_http_requests_total{{container=\"synthetic\",proxy=~\"unknown_[0-9]+\"}}[3600s]))) on Prometheus at {_prometheus.Url} returned no data between ");
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain("returned no data between");
        run.All.ShouldContain("Is unknown deployed behind the haproxy proxy 'synthetic', and does this Prometheus scrape the proxy's metrics (job pipeline-proxy, see README \"Keeping it alive and sized\")? Otherwise give --forecast-query. Nothing was changed.");
    }

    [Test]
    public void Should_Refuse_A_Query_Of_Several_Series_Naming_Them()
    {
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", "--forecast-query=rate(haproxy_backend_http_requests_total[${window}])"]);

        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain($"The query rate(haproxy_backend_http_requests_total[3600s]) on Prometheus at {_prometheus.Url} cannot be used: it returned 7 series where one is expected: {{container=\"synthetic\", instance=\"10.0.0.1:8405\", job=\"pipeline-proxy\", proxy=\"");
        run.All.ShouldContain("aggregate them into one, e.g. sum(...). Give --forecast-query a query of the service's requests per second as one series. Nothing was changed.");
    }

    [Test]
    public async Task Should_Refuse_A_Range_Vector_Where_An_Instant_One_Is_Needed()
    {
        using var client = new PrometheusClient(_prometheus.Url);

        var error = await Should.ThrowAsync<PrometheusResultShapeException>(() => client.QueryAsync("haproxy_backend_http_requests_total[5m]", _now));

        error.Message.ShouldBe($"The query haproxy_backend_http_requests_total[5m] on Prometheus at {_prometheus.Url} cannot be used: its result is a matrix, where an instant vector or a scalar is expected (a range selector such as [5m] needs a function around it, e.g. rate(...[5m])).");
    }

    [Test]
    public async Task Should_Pass_On_Prometheus_Own_Error_For_A_Bad_Query()
    {
        using var client = new PrometheusClient(_prometheus.Url);
        var run = CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast",
            [$"--prometheus-url={_prometheus.Url}", "--forecast-query=sum(rate(x[${window}]"]);

        var error = await Should.ThrowAsync<PrometheusQueryException>(() => client.QueryAsync("sum(rate(x[5m]", _now));

        error.StatusCode.ShouldBe(400);
        error.ErrorType.ShouldBe("bad_data");
        error.Message.ShouldStartWith($"Prometheus at {_prometheus.Url} answered 400 bad_data to the query sum(rate(x[5m]: invalid parameter \"query\": ");
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain("Fix the PromQL in --forecast-query. Nothing was changed.");
    }

    [Test]
    public async Task Should_Read_The_Rate_Now_And_A_Range_With_Gaps()
    {
        using var client = new PrometheusClient(_prometheus.Url);

        var now = await RatesOf("daily", client).CurrentAsync(_now, TimeSpan.FromMinutes(5));
        var gaps = await client.QueryRangeSingleAsync(RequestRateQuery.WithWindow(RequestRateQuery.Expand(RequestRateQuery.HaproxyDefault, "gaps", Container), TimeSpan.FromHours(1)), _now - TimeSpan.FromDays(6), _now - TimeSpan.FromDays(3), TimeSpan.FromHours(1));

        now.ShouldNotBeNull().Value.ShouldBe(_traffic["daily"].Rate(_now), tolerance: 0.1 * _traffic["daily"].Rate(_now));
        gaps.Samples.Count.ShouldBeLessThan(72 - 20, "the missing day leaves ~24 hours out");
        gaps.Samples.ShouldAllBe(s => s.Value > 0);
    }
}
