using Pipeline.Docker;
using Pipeline.Provisioning;

namespace Pipeline.Tests.Provisioning;

public sealed class PrometheusServiceTests
{
    private const string Docker = "unix:///var/run/docker.sock";
    private const string Registry = "127.0.0.1:5000";
    private const string Etcd = "http://127.0.0.1:2379/";
    private const string Prometheus = "http://127.0.0.1:9090/";

    private FakeRunner _runner = null!;
    private FakeProbe _probe = null!;
    private List<string> _log = null!;
    private string _state = null!;

    [SetUp]
    public void SetUp()
    {
        _runner = new FakeRunner();
        _probe = new FakeProbe();
        _log = [];
        _state = Path.Combine(Path.GetTempPath(), $"pipeline-prometheus-test-{Guid.NewGuid().ToString("N")[..8]}");
        _runner.Programs.UnionWith(["dockerd", "docker-registry", "etcd", "mmdebstrap", "busybox", "apt-get"]);
        _probe.Up.UnionWith([Docker, Registry, Etcd]);
        _runner.OnStart = program => _probe.Up.Add(program == "prometheus" ? Prometheus : throw new InvalidOperationException(program));
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    private LocalServicesOptions Options => new()
    {
        Docker = DockerEndpoint.Local,
        StateDirectory = _state,
        Prometheus = new Uri(Prometheus),
        PrometheusRetention = TimeSpan.FromDays(21),
        PollInterval = TimeSpan.FromMilliseconds(5),
        StartTimeout = TimeSpan.FromSeconds(5),
        ExitGracePeriod = TimeSpan.Zero,
    };

    private LocalServices Create() => new(_runner, _probe, new FakeEtcdSecurity(), new HostFacts(IsRoot: true, IsDebian: true, HasAptGet: true), _log.Add);

    [Test]
    public async Task Should_Install_Prometheus_Without_Recommends_And_Start_It_On_Loopback_With_Its_Config_Data_And_Retention()
    {
        // Given: Prometheus is neither installed nor answering
        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBe(["apt-get update", "apt-get install -y --no-install-recommends prometheus"]);
        var directory = Path.Combine(_state, "prometheus");
        var started = _runner.Started.ShouldHaveSingleItem();
        started.Program.ShouldBe("prometheus");
        started.Arguments.ShouldBe(
        [
            $"--config.file={Path.Combine(directory, "prometheus.yml")}",
            $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            "--storage.tsdb.retention.time=21d",
            "--web.listen-address=127.0.0.1:9090",
        ]);
        report.Services.Single(s => s.Name == "Prometheus").Action.ShouldBe(ServiceAction.Started);
        File.ReadAllText(Path.Combine(directory, "prometheus.yml")).ShouldBe(PrometheusService.Config(new Uri(Docker), TimeSpan.FromSeconds(15)));
        File.ReadAllText(Path.Combine(_state, "run", "prometheus.pid")).ShouldBe($"{started.Pid}\n");
    }

    [Test]
    public async Task Should_Install_Other_Packages_With_Their_Recommends_In_A_Separate_Call()
    {
        // Given: etcd is missing too
        _runner.Programs.Remove("etcd");
        _probe.Up.Remove(Etcd);
        _runner.OnStart = program => _probe.Up.Add(program == "prometheus" ? Prometheus : Etcd);

        await Create().EnsureAsync(Options);

        _runner.Ran.ShouldBe(["apt-get update", "apt-get install -y etcd-server etcd-client", "apt-get install -y --no-install-recommends prometheus"]);
    }

    [Test]
    public async Task Should_Leave_A_Prometheus_That_Answers_Alone()
    {
        _probe.Up.Add(Prometheus);

        var report = await Create().EnsureAsync(Options);

        _runner.Ran.ShouldBeEmpty();
        _runner.Started.ShouldBeEmpty();
        report.Services.Single(s => s.Name == "Prometheus").Detail.ShouldBe("Prometheus 2.42.0+ds");
    }

    [Test]
    public async Task Should_Only_Check_A_Prometheus_That_Is_Not_On_Loopback()
    {
        var options = Options with { Prometheus = new Uri("http://metrics.example.invalid:9090") };

        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureAsync(options));

        error.Message.ShouldBe("Prometheus at http://metrics.example.invalid:9090/ does not answer (connection refused). It is not on this machine's loopback, so the build only checks it: start it there, or point --prometheus-url=URL at one that runs.");
        _runner.Started.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Not_Check_Prometheus_When_It_Is_Not_Asked_For()
    {
        await Create().EnsureAsync(Options with { Prometheus = null });

        _probe.Probed.ShouldNotContain(Prometheus);
    }

    [Test]
    public void Should_Scrape_Every_Proxy_Container_At_Its_Metrics_Port_With_Its_Name()
    {
        var config = PrometheusService.Config(new Uri(Docker), TimeSpan.FromSeconds(15), onlyContainer: "proxy-1.test");

        config.ShouldContain("job_name: pipeline-proxy");
        config.ShouldContain("- host: unix:///var/run/docker.sock");
        config.ShouldContain("values: [\"pipeline.role=proxy\"]\n");
        config.ShouldContain("replacement: \"${1}:8405\"");
        config.ShouldContain("target_label: container\n");
        config.ShouldContain("regex: /?proxy-1\\.test\n        action: keep\n");
    }

    [Test]
    public void Should_Leave_The_Job_Out_Without_A_Local_Docker_Socket() =>
        PrometheusService.Config(null, TimeSpan.FromSeconds(15)).ShouldEndWith("scrape_configs: []\n");
}
