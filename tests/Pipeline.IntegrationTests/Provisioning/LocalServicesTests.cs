using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Transport;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Provisioning;

public sealed class LocalServicesTests
{
    private readonly List<int> _started = [];
    private string _state = null!;

    [SetUp]
    public void SetUp()
    {
        _started.Clear();
        _state = Directory.CreateTempSubdirectory("pipeline-local-it-").FullName;
    }

    [TearDown]
    public async Task TearDown()
    {
        // Only the processes this test started, by their pid.
        foreach (var pid in _started)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
            }
            catch (ArgumentException)
            {
                // already gone
            }
        }

        Directory.Delete(_state, recursive: true);
    }

    private static LocalServicesOptions RunningServices(string state) => new()
    {
        Docker = TestEnvironment.Docker,
        ImageRegistry = TestEnvironment.ImageRegistry,
        Etcd = TestEnvironment.Etcd,
        StateDirectory = state,
    };

    [Test]
    public async Task Should_Only_Check_Running_Services_In_Well_Under_Two_Seconds()
    {
        // Given: the services the build provisioned (or a developer started) answer
        var log = new List<string>();
        var runner = new NothingMayRun();
        var services = new LocalServices(runner, new HttpServiceProbe(), new EtcdGatewaySecurity(), HostFacts.Detect(runner), log.Add);

        // When
        var watch = Stopwatch.StartNew();
        var report = await services.EnsureAsync(RunningServices(_state));
        watch.Stop();

        // Then
        TestContext.Progress.WriteLine($"LocalServices.EnsureAsync with everything up: {watch.ElapsedMilliseconds} ms");
        report.Services.ShouldAllBe(s => s.Action == ServiceAction.AlreadyRunning);
        report.Services.Single(s => s.Name == "Docker engine").Detail.ShouldStartWith("API 1.");
        report.Services.Single(s => s.Name == "etcd").Detail.ShouldStartWith("etcd 3.");
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        Directory.EnumerateFileSystemEntries(_state).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Start_A_Registry_And_Etcd_On_Free_Loopback_Ports_That_Keep_Running_Detached()
    {
        // Given: nothing listens on two free loopback ports
        var registryPort = TestEnvironment.FreePort();
        var etcdPort = TestEnvironment.FreePortPair();
        var options = RunningServices(_state) with
        {
            ImageRegistry = $"127.0.0.1:{registryPort}",
            Etcd = new Uri($"http://127.0.0.1:{etcdPort}"),
            Tools = new Dictionary<string, string>(),
            AllowInstall = false,
            StartTimeout = TimeSpan.FromSeconds(30),
        };
        var services = LocalServices.ForThisMachine(TestContext.Progress.WriteLine);

        // When
        var report = await services.EnsureAsync(options);
        _started.AddRange(report.Services.Where(s => s.ProcessId is not null).Select(s => s.ProcessId!.Value));

        // Then
        report.Services.Where(s => s.Action == ServiceAction.Started).Select(s => s.Name).ShouldBe(["image registry", "etcd"]);
        using var http = new HttpClient();
        (await http.GetAsync($"http://127.0.0.1:{registryPort}/v2/")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await http.GetStringAsync($"http://127.0.0.1:{etcdPort}/version")).ShouldContain("\"etcdserver\":\"3.");
        foreach (var pid in _started)
        {
            SessionOf(pid).ShouldBe(pid, "a started service leads its own session, so it outlives the build");
        }

        File.ReadAllText(Path.Combine(_state, "logs", "etcd.log")).ShouldNotBeEmpty();
        Directory.Exists(Path.Combine(_state, "etcd", "member")).ShouldBeTrue();

        // And when it runs again, it only checks
        var again = await services.EnsureAsync(options);
        again.Services.ShouldAllBe(s => s.Action == ServiceAction.AlreadyRunning);
    }

    [Test]
    public async Task Should_Start_A_Detached_Process_In_Its_Own_Session_With_Output_In_The_Log()
    {
        // Given
        var runner = new ProcessCommandRunner();
        var logFile = Path.Combine(_state, "sleep.log");

        // When
        var pid = await runner.StartDetachedAsync("sh", ["-c", "echo started; exec sleep 60"], logFile);
        _started.Add(pid);

        // Then
        runner.IsRunning(pid).ShouldBeTrue();
        SessionOf(pid).ShouldBe(pid);
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!File.ReadAllText(logFile).Contains("started", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(20);
        }

        File.ReadAllText(logFile).ShouldBe("started\n");
    }

    [Test]
    public async Task Should_Report_Exit_Code_And_Output_Of_A_Command()
    {
        var result = await new ProcessCommandRunner().RunAsync("sh", ["-c", "echo out; echo err >&2; exit 3"]);

        result.ExitCode.ShouldBe(3);
        result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ShouldBe(["err", "out"]);
        result.Command.ShouldBe("sh -c 'echo out; echo err >&2; exit 3'");
    }

    [Test]
    public async Task Should_Say_Why_An_Address_Does_Not_Answer()
    {
        var probe = new HttpServiceProbe();

        var etcd = await probe.CheckEtcdAsync(new Uri($"http://127.0.0.1:{TestEnvironment.FreePort()}"), TimeSpan.FromSeconds(2));
        var docker = await probe.PingDockerAsync(new DockerEndpoint(new Uri($"unix://{_state}/missing.sock")), TimeSpan.FromSeconds(2));

        etcd.ShouldBe(ProbeResult.Down("connection refused"));
        docker.ShouldBe(ProbeResult.Down($"{_state}/missing.sock does not exist"));
    }

    [Test]
    public async Task Should_Not_Take_Another_Http_Server_For_A_Registry_Or_Etcd()
    {
        // Given: something on a loopback port that answers every request with 404 (busybox httpd serving nothing)
        var port = TestEnvironment.FreePort();
        var root = Directory.CreateDirectory(Path.Combine(_state, "www")).FullName;
        var pid = await new ProcessCommandRunner().StartDetachedAsync("busybox", ["httpd", "-f", "-p", $"127.0.0.1:{port}", "-h", root], Path.Combine(_state, "httpd.log"));
        _started.Add(pid);
        var probe = new HttpServiceProbe();
        await WaitForPortAsync(port);

        // When
        var registry = await probe.CheckImageRegistryAsync($"127.0.0.1:{port}", TimeSpan.FromSeconds(2));
        var etcd = await probe.CheckEtcdAsync(new Uri($"http://127.0.0.1:{port}"), TimeSpan.FromSeconds(2));

        // Then
        registry.ShouldBe(ProbeResult.Down($"GET http://127.0.0.1:{port}/v2/ answered 404 without Docker-Distribution-API-Version: registry/2.0, so it is no image registry"));
        etcd.ShouldBe(ProbeResult.Down($"GET http://127.0.0.1:{port}/version answered 404 without an etcdserver version, so it is no etcd"));
    }

    [Test]
    public async Task Should_Recognise_The_Running_Registry_And_Etcd()
    {
        var probe = new HttpServiceProbe();

        (await probe.CheckImageRegistryAsync(TestEnvironment.ImageRegistry, TimeSpan.FromSeconds(2))).ShouldBe(ProbeResult.Up("registry/2.0 API"));
        (await probe.CheckEtcdAsync(TestEnvironment.Etcd, TimeSpan.FromSeconds(2))).Detail.ShouldStartWith("etcd 3.");
    }

    [Test]
    public async Task Should_Trust_Every_Authority_In_A_Registry_Ca_Bundle()
    {
        // Given an HTTPS registry whose certificate a CA signed that comes second in Docker's bundle for it
        var first = TestCertificates.CreateCa("an unrelated CA");
        var second = TestCertificates.CreateCa("the registry's CA");
        using var registry = new StandInServer(
            TestCertificates.IssueServer(second),
            request => request.OverTls ? StandInServer.RegistryChallenge("Basic realm=\"stand-in\"") : StandInServer.Status(400, "Bad Request"));
        var certs = Path.Combine(HttpServiceProbe.DockerCertsDirectory, registry.Address);
        Directory.CreateDirectory(certs);
        try
        {
            File.WriteAllText(Path.Combine(certs, "ca.crt"), first.ExportCertificatePem() + "\n" + second.ExportCertificatePem() + "\n");

            // When it is probed
            var result = await new HttpServiceProbe().CheckImageRegistryAsync(registry.Address, TimeSpan.FromSeconds(5));

            // Then it is recognised over HTTPS
            result.ShouldBe(ProbeResult.Up("registry/2.0 API"));
            registry.Requests.ShouldContain(r => r.OverTls);
        }
        finally
        {
            Directory.Delete(certs, recursive: true);
        }
    }

    private static async Task WaitForPortAsync(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }
    }

    private static int SessionOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture); // state ppid pgrp session
    }

    /// <summary>Fails the test when provisioning tries to install or start anything.</summary>
    private sealed class NothingMayRun : ICommandRunner
    {
        private readonly ProcessCommandRunner _real = new();

        public string? FindExecutable(string name) => _real.FindExecutable(name);

        public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null, Action<string>? onOutput = null, CancellationToken ct = default) =>
            throw new AssertionException($"ran {program} {string.Join(' ', arguments)}");

        public Task<int> StartDetachedAsync(string program, IReadOnlyList<string> arguments, string logFile, CancellationToken ct = default) =>
            throw new AssertionException($"started {program}");

        public bool IsRunning(int processId) => _real.IsRunning(processId);
    }
}
