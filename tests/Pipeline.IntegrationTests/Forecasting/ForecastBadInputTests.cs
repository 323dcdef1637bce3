using System.Net;
using System.Net.Sockets;
using Pipeline.Configuration;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.Metrics;

namespace Pipeline.IntegrationTests.Forecasting;

/// <summary>Bad input to the forecast: each a clear error naming the value and the fix, and nothing asked of Prometheus when an option is wrong.</summary>
[NonParallelizable]
public sealed class ForecastBadInputTests
{
    private string _serviceDir = null!;

    [OneTimeSetUp]
    public void CreateServiceFolder()
    {
        _serviceDir = Path.Combine(Directory.CreateTempSubdirectory("forecast-bad-").FullName, "shop");
        Directory.CreateDirectory(_serviceDir);
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(_serviceDir, "Dockerfile.tests"), "FROM busybox\n");
    }

    [OneTimeTearDown]
    public void RemoveServiceFolder() => Directory.Delete(Path.GetDirectoryName(_serviceDir)!, recursive: true);

    private CapturedRun Forecast(params string[] arguments) =>
        CapturedPipeline.Run(new DeploymentOptions { ServiceDirectory = _serviceDir }, "Forecast", arguments);

    [Test]
    public async Task Should_Say_Prometheus_Does_Not_Answer_On_A_Closed_Port()
    {
        // Given: nothing listens on the port
        var url = new Uri($"http://127.0.0.1:{TestEnvironment.FreePort()}/");
        using var client = new PrometheusClient(url);

        // When
        var error = await Should.ThrowAsync<PrometheusUnreachableException>(() => client.QueryAsync("up", DateTimeOffset.UtcNow));
        var run = Forecast($"--prometheus-url={url}");

        // Then
        error.Message.ShouldBe($"Prometheus at {url} did not answer (connection refused) to the query up.");
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain($"Prometheus at {url} did not answer (connection refused) to the query sum(max without (instance) (rate(haproxy_backend_http_requests_total{{container=\"pipeline-proxy\",proxy=~\"shop_[0-9]+\"}}[3600s]))). Start it (./build.sh --target=ProvisionLocalServices starts one when --prometheus-url is on loopback) or point --prometheus-url at yours. Nothing was changed.");
    }

    [Test]
    public async Task Should_Say_The_Host_Is_Not_Found()
    {
        using var client = new PrometheusClient(new Uri("http://prometheus.pipeline.invalid:9090"), TimeSpan.FromSeconds(10));

        var error = await Should.ThrowAsync<PrometheusUnreachableException>(() => client.QueryAsync("up", DateTimeOffset.UtcNow));

        error.Reason.ShouldStartWith("host not found");
    }

    [Test]
    public async Task Should_Say_When_The_Address_Is_No_Prometheus()
    {
        // Given: etcd answers HTTP there, but not Prometheus' API
        using var client = new PrometheusClient(TestEnvironment.Etcd);

        var error = await Should.ThrowAsync<PrometheusQueryException>(() => client.QueryRangeAsync("up", DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1)));

        error.StatusCode.ShouldBe(404);
        error.Message.ShouldStartWith($"Prometheus at {client.BaseUrl} answered 404 to the query up: the answer is not Prometheus' API JSON (is {client.BaseUrl} a Prometheus?): ");
    }

    [TestCase("--capacity-per-replica=0", "--capacity-per-replica=0: must be the requests per second one replica serves, above 0; measure it and set e.g. --capacity-per-replica=100")]
    [TestCase("--min-replicas=0", "--min-replicas=0: must be 1 to 100 (a live release runs at least one replica); e.g. --min-replicas=1")]
    [TestCase("--max-replicas=101", "--max-replicas=101: must be 1 to 100; e.g. --max-replicas=10")]
    [TestCase("--min-replicas=5 --max-replicas=3", "--min-replicas=5 is above --max-replicas=3: lower --min-replicas or raise --max-replicas to at least 5")]
    [TestCase("--history-days=1", "--history-days=1: must be 3 to 90 days")]
    public void Should_Refuse_A_Bad_Option_Before_Asking_Prometheus(string arguments, string expected)
    {
        // Given: a port that listens but is never asked
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/";

        // When
        var run = Forecast([$"--prometheus-url={url}", .. arguments.Split(' ')]);

        // Then
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain(expected);
        listener.Pending().ShouldBeFalse("an invalid option stops the run before Prometheus is asked anything");
    }
}
