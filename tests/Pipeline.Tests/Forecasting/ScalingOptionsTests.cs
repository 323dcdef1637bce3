using Pipeline.Configuration;

namespace Pipeline.Tests.Forecasting;

/// <summary>The forecast's and scaling's options, through the same resolver as every other option.</summary>
public sealed class ScalingOptionsTests
{
    private string _serviceDir = null!;

    [SetUp]
    public void CreateServiceFolder()
    {
        _serviceDir = Path.Combine(Path.GetTempPath(), "pipeline-scaling-" + Guid.NewGuid().ToString("N")[..8], "shop-api");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
    }

    [TearDown]
    public void RemoveServiceFolder() => Directory.Delete(Path.GetDirectoryName(_serviceDir)!, recursive: true);

    private DeploymentOptions Resolve(Dictionary<string, string>? arguments = null, Dictionary<string, string>? environment = null) =>
        OptionResolver.Resolve(
            new DeploymentOptions { ServiceDirectory = _serviceDir, Version = "1.0.0" },
            name => arguments?.GetValueOrDefault(name),
            name => environment?.GetValueOrDefault(name),
            "/");

    [Test]
    public void Should_Default_To_Fourteen_Days_Forty_Eight_Hours_And_Forecast_Only()
    {
        var options = Resolve();

        options.PrometheusUrl.ShouldBe(new Uri("http://127.0.0.1:9090"));
        options.Scaling.ShouldSatisfyAllConditions(
            s => s.Query.ShouldBeNull(),
            s => s.HistoryDays.ShouldBe(14),
            s => s.HorizonHours.ShouldBe(48),
            s => s.CapacityPerReplica.ShouldBe(100),
            s => s.Headroom.ShouldBe(1.2),
            s => s.MinReplicas.ShouldBe(1),
            s => s.MaxReplicas.ShouldBe(10),
            s => s.StabilizationWindow.ShouldBe(TimeSpan.FromMinutes(5)),
            s => s.ForecastOnly.ShouldBeTrue());
    }

    [Test]
    public void Should_Read_Every_Option_From_The_Command_Line_And_The_Environment()
    {
        var options = Resolve(
            new()
            {
                ["prometheus-url"] = "http://127.0.0.1:19090",
                ["forecast-query"] = "sum(rate(x[${window}]))",
                ["history-days"] = "21",
                ["forecast-hours"] = "24",
                ["capacity-per-replica"] = "42.5",
            },
            new()
            {
                ["PIPELINE_HEADROOM"] = "1.5",
                ["PIPELINE_MIN_REPLICAS"] = "2",
                ["PIPELINE_MAX_REPLICAS"] = "8",
                ["PIPELINE_STABILIZATION_WINDOW"] = "600",
                ["PIPELINE_FORECAST_ONLY"] = "false",
            });

        options.PrometheusUrl.ShouldBe(new Uri("http://127.0.0.1:19090"));
        options.Scaling.ShouldBe(new Pipeline.Forecasting.ScalingOptions
        {
            Query = "sum(rate(x[${window}]))",
            HistoryDays = 21,
            HorizonHours = 24,
            CapacityPerReplica = 42.5,
            Headroom = 1.5,
            MinReplicas = 2,
            MaxReplicas = 8,
            StabilizationWindow = TimeSpan.FromMinutes(10),
            ForecastOnly = false,
        });
    }

    [TestCase("min-replicas", "0", "--min-replicas=0: must be 1 to 100 (a live release runs at least one replica); e.g. --min-replicas=1")]
    [TestCase("min-replicas", "-2", "--min-replicas=-2: must be 1 to 100")]
    [TestCase("max-replicas", "101", "--max-replicas=101: must be 1 to 100; e.g. --max-replicas=10")]
    [TestCase("max-replicas", "0", "--max-replicas=0: must be 1 to 100; e.g. --max-replicas=10")]
    [TestCase("capacity-per-replica", "0", "--capacity-per-replica=0: must be the requests per second one replica serves, above 0; measure it and set e.g. --capacity-per-replica=100")]
    [TestCase("capacity-per-replica", "-5", "--capacity-per-replica=-5: must be the requests per second one replica serves, above 0")]
    [TestCase("capacity-per-replica", "fast", "--capacity-per-replica=fast: not a number; e.g. --capacity-per-replica=100")]
    [TestCase("headroom", "0.8", "--headroom=0.8: must be a factor from 1 (no spare capacity) to 10; e.g. --headroom=1.2 keeps 20 % spare")]
    [TestCase("history-days", "2", "--history-days=2: must be 3 to 90 days")]
    [TestCase("history-days", "365", "--history-days=365: must be 3 to 90 days")]
    [TestCase("forecast-hours", "0", "--forecast-hours=0: must be 1 to 168 hours (a week); e.g. --forecast-hours=48")]
    [TestCase("stabilization-window", "5", "--stabilization-window=5: must be 30 to 86400 seconds")]
    [TestCase("forecast-only", "maybe", "--forecast-only=maybe: not true or false; e.g. --forecast-only=true")]
    [TestCase("forecast-query", " ", "--forecast-query is empty: give a PromQL query of the service's request rate (one series)")]
    [TestCase("prometheus-url", "127.0.0.1:9090", "--prometheus-url=127.0.0.1:9090: '127.0.0.1:9090' is not an absolute URL; e.g. --prometheus-url=http://127.0.0.1:9090")]
    [TestCase("prometheus-url", "ftp://127.0.0.1:9090", "--prometheus-url=ftp://127.0.0.1:9090: must be Prometheus' http(s) URL; e.g. --prometheus-url=http://127.0.0.1:9090")]
    public void Should_Name_The_Bad_Value_And_The_Fix(string option, string value, string expected)
    {
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { [option] = value }));

        error.Problems.ShouldHaveSingleItem().ShouldStartWith(expected);
        error.Message.ShouldStartWith("Invalid options (nothing was changed):");
    }

    [Test]
    public void Should_Refuse_A_Minimum_Above_The_Maximum()
    {
        var error = Should.Throw<InvalidOptionsException>(() => Resolve(new() { ["min-replicas"] = "5", ["max-replicas"] = "3" }));

        error.Problems.ShouldHaveSingleItem().ShouldBe("--min-replicas=5 is above --max-replicas=3: lower --min-replicas or raise --max-replicas to at least 5");
    }
}
