using System.Diagnostics;
using Pipeline.Metrics;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Forecasting;

/// <summary>LocalServices starts a real Prometheus on a free loopback port when it does not answer, and leaves it alone when it does.</summary>
[NonParallelizable]
public sealed class PrometheusProvisioningTests
{
    private string _state = null!;
    private int? _started;

    [SetUp]
    public void SetUp() => _state = Directory.CreateTempSubdirectory("pipeline-local-prometheus-").FullName;

    [TearDown]
    public async Task TearDown()
    {
        if (_started is { } pid)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // already gone
            }

            var runner = new ProcessCommandRunner();
            for (var waited = 0; runner.IsRunning(pid) && waited < 200; waited++)
            {
                await Task.Delay(100);
            }
        }

        Directory.Delete(_state, recursive: true);
    }

    [Test]
    public async Task Should_Start_Prometheus_Detached_On_A_Free_Loopback_Port_With_Its_Config_And_Retention()
    {
        // Given: the shared services answer; nothing listens on the Prometheus port
        var url = new Uri($"http://127.0.0.1:{TestEnvironment.FreePort()}/");
        var options = new LocalServicesOptions
        {
            Docker = TestEnvironment.Docker,
            ImageRegistry = TestEnvironment.ImageRegistry,
            Etcd = TestEnvironment.Etcd,
            StateDirectory = _state,
            Tools = new Dictionary<string, string>(),
            AllowInstall = false,
            Prometheus = url,
            PrometheusRetention = TimeSpan.FromDays(30),
            StartTimeout = TimeSpan.FromSeconds(60),
        };
        var services = LocalServices.ForThisMachine(TestContext.Progress.WriteLine);

        // When
        var report = await services.EnsureAsync(options);
        var prometheus = report.Services.Single(s => s.Name == "Prometheus");
        _started = prometheus.ProcessId;

        // Then: it answers its API, runs with the written config, and a second run only checks it
        prometheus.Action.ShouldBe(ServiceAction.Started);
        prometheus.Detail.ShouldStartWith("Prometheus 2.");
        using var client = new PrometheusClient(url);
        (await client.QuerySingleAsync("1 + 1", DateTimeOffset.UtcNow)).Value.ShouldBe(2);
        var flags = await new HttpClient().GetStringAsync(new Uri(url, "api/v1/status/flags"));
        flags.ShouldContain("\"storage.tsdb.retention.time\":\"30d\"");
        flags.ShouldContain($"\"config.file\":\"{Path.Combine(_state, "prometheus", "prometheus.yml")}\"");
        var config = await new HttpClient().GetStringAsync(new Uri(url, "api/v1/status/config"));
        config.ShouldContain("job_name: pipeline-proxy");
        (await services.EnsureAsync(options)).Services.ShouldAllBe(s => s.Action == ServiceAction.AlreadyRunning);
    }
}
