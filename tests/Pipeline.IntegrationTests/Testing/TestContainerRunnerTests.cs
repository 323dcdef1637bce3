using System.Net;
using System.Net.Sockets;
using System.Text;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Docker;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Testing;

/// <summary>The test-container runner against the real dockerd, with a test image built like a service's Dockerfile.tests.</summary>
[TestFixture]
public sealed class TestContainerRunnerTests
{
    private const string TestScript = """
        echo "TEST_TYPE=$TEST_TYPE TARGET_URL=$TARGET_URL SERVICE_NAME=$SERVICE_NAME SERVICE_VERSION=$SERVICE_VERSION SERVICE_COLOR=$SERVICE_COLOR EXTRA=$EXTRA"
        case "$MODE" in
          fail) for i in $(seq 1 30); do echo "check $i failed"; done; exit 3 ;;
          stderr) echo "to stderr" >&2; exit 0 ;;
          leak) echo "could not use $EXTRA" >&2; exit 4 ;;
          hang) echo "started"; exec sleep 600 ;;
          fetch) timeout 5 wget -q -O - "$TARGET_URL" || exit 9 ;;
        esac
        """;

    private DockerEngine _engine = null!;
    private ImageRef _busybox = null!;
    private ImageRef _tests = null!;
    private TestContainerRunner _runner = null!;
    private string _deployId = null!;
    private readonly List<string> _containers = [];
    private readonly List<string> _networks = [];

    [OneTimeSetUp]
    public async Task BuildTestImage()
    {
        _engine = new DockerEngine(TestEnvironment.Docker);
        _busybox = await BusyboxImage.BuildAsync(_engine);
        _tests = new ImageRef(null, "pipeline-test-tests", TestEnvironment.UniqueName("t"));
        var context = BusyboxImage.CreateContext(new Dictionary<string, string>
        {
            ["run-tests.sh"] = TestScript,
            ["Dockerfile.tests"] = $"""
                FROM {_busybox}
                COPY run-tests.sh /run-tests.sh
                ENTRYPOINT ["sh", "/run-tests.sh"]
                """,
        });
        try
        {
            await _engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile.tests", [_tests], BusyboxImage.TestLabels));
        }
        finally
        {
            Directory.Delete(context, true);
        }

        _runner = new TestContainerRunner(_engine);
    }

    [OneTimeTearDown]
    public async Task RemoveImages()
    {
        await BusyboxImage.RemoveImageAsync(_tests);
        await BusyboxImage.RemoveImageAsync(_busybox);
        _engine.Dispose();
    }

    [SetUp]
    public void NewDeployId() => _deployId = TestEnvironment.UniqueName("deploy");

    [TearDown]
    public async Task RemoveWhatTheTestCreated()
    {
        foreach (var id in _containers)
        {
            await _engine.RemoveContainerAsync(id);
        }

        foreach (var name in _networks)
        {
            await _engine.RemoveNetworkAsync(name);
        }

        // Whatever the runner left (it should leave nothing), so a failing test does not litter the engine.
        foreach (var left in await _engine.ListContainersAsync(new Dictionary<string, string> { ["pipeline.deploy-id"] = _deployId }))
        {
            await _engine.RemoveContainerAsync(left.Id);
        }

        _containers.Clear();
        _networks.Clear();
    }

    [Test]
    public async Task Should_Pass_With_Contract_Variables_And_Prefixed_Output_When_Tests_Exit_Zero()
    {
        // Given
        var output = new List<string>();
        var run = Run(TestType.PreIntegration) with
        {
            TargetUrl = new Uri("http://172.18.0.5:8080/"),
            Environment = new Dictionary<string, string> { ["EXTRA"] = "more" },
        };

        // When
        var result = await _runner.RunAsync(run, output.Add);

        // Then
        output.ShouldBe(["[pre-integration] TEST_TYPE=pre-integration TARGET_URL=http://172.18.0.5:8080/ SERVICE_NAME=hello SERVICE_VERSION=1.4.0 SERVICE_COLOR=green EXTRA=more"]);
        result.OutputLines.ShouldBe(1);
        result.ContainerName.ShouldStartWith("hello-pre-integration-tests-");
        (await Leftovers()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Hide_Secrets_In_Streamed_Output_And_In_The_Failure_Message()
    {
        // Given a test that prints a secret it was given, then fails
        var output = new List<string>();
        var run = Run(TestType.PreIntegration) with
        {
            Environment = new Dictionary<string, string> { ["MODE"] = "leak", ["EXTRA"] = "postgres://app:s3cr3t-pw@db:5432/app" },
            Secrets = ["postgres://app:s3cr3t-pw@db:5432/app", "s3cr3t-pw"],
        };

        // When
        var error = await Should.ThrowAsync<TestsFailedException>(() => _runner.RunAsync(run, output.Add));

        // Then the value never shows, neither in the log nor in the message
        output.ShouldContain("[pre-integration] could not use ***");
        output.ShouldContain(line => line.EndsWith("EXTRA=***", StringComparison.Ordinal));
        output.ShouldNotContain(line => line.Contains("s3cr3t", StringComparison.Ordinal));
        error.Message.ShouldContain("    could not use ***");
        error.Message.ShouldNotContain("s3cr3t");
    }

    [Test]
    public async Task Should_Stream_Stderr_Too()
    {
        // Given
        var output = new List<string>();

        // When
        await _runner.RunAsync(Run(TestType.PreDeployment, "stderr") with { ServiceColor = null }, output.Add);

        // Then both streams arrive (stdout and stderr are separate streams: their relative order is not kept)
        output.ShouldBe(["[pre-deployment] TEST_TYPE=pre-deployment TARGET_URL= SERVICE_NAME=hello SERVICE_VERSION=1.4.0 SERVICE_COLOR= EXTRA=", "[pre-deployment] to stderr"], ignoreOrder: true);
    }

    [Test]
    public async Task Should_Throw_With_Exit_Code_And_Last_Lines_When_Tests_Fail()
    {
        // Given
        var output = new List<string>();

        // When
        var error = await Should.ThrowAsync<TestsFailedException>(() => _runner.RunAsync(Run(TestType.PreIntegration, "fail"), output.Add));

        // Then
        output.Count.ShouldBe(31);
        error.TestType.ShouldBe(TestType.PreIntegration);
        error.ExitCode.ShouldBe(3);
        var expectedTail = Enumerable.Range(11, 20).Select(i => $"check {i} failed").ToList();
        error.OutputTail.ShouldBe(expectedTail);
        error.Message.ShouldBe("pre-integration tests for hello 1.4.0 (green) exited with 3:" + Environment.NewLine
            + string.Join(Environment.NewLine, expectedTail.Select(l => "    " + l)));
        (await Leftovers()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Label_The_Container_And_Remove_It_When_Cancelled()
    {
        // Given tests that hang
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        IReadOnlyList<ContainerInfo>? whileRunning = null;
        var sawStart = new TaskCompletionSource();

        // When the run is cancelled once the tests have started
        var running = _runner.RunAsync(Run(TestType.PostIntegration, "hang"), line =>
        {
            if (line.EndsWith("started"))
            {
                sawStart.TrySetResult();
            }
        }, cts.Token);
        await sawStart.Task.WaitAsync(TimeSpan.FromSeconds(30));
        whileRunning = await Leftovers();
        await cts.CancelAsync();

        // Then the run ends as cancelled and the container is gone
        await Should.ThrowAsync<OperationCanceledException>(() => running);
        var container = whileRunning.ShouldHaveSingleItem();
        container.IsRunning.ShouldBeTrue();
        container.Labels.ShouldContainKeyAndValue("pipeline.role", "test");
        container.Labels.ShouldContainKeyAndValue("pipeline.service", "hello");
        container.Labels.ShouldContainKeyAndValue("pipeline.color", "green");
        container.Labels.ShouldContainKeyAndValue("pipeline.test", "true");
        (await Leftovers()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Fail_And_Remove_The_Container_When_Tests_Run_Out_Of_Time()
    {
        // When
        var error = await Should.ThrowAsync<TestsFailedException>(() =>
            _runner.RunAsync(Run(TestType.PostIntegration, "hang") with { Timeout = TimeSpan.FromSeconds(1) }));

        // Then
        error.ExitCode.ShouldBeNull();
        error.Message.ShouldStartWith("post-integration tests for hello 1.4.0 (green) did not finish within 00:00:01; the container was stopped:");
        (await Leftovers()).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Reach_A_Release_Directly_On_Its_Bridge_Network()
    {
        // Given a release on its own network
        var network = TestEnvironment.UniqueName("pipeline-test-net");
        _networks.Add(network);
        await _engine.EnsureNetworkAsync(network, new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.deploy-id"] = _deployId });
        var release = await _engine.CreateContainerAsync(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-release"),
            Image = _busybox.ToString(),
            Network = network,
            Command = ["sh", "-c", "mkdir /www && echo release-green > /www/index.html && exec httpd -f -p 8080 -h /www"],
            Labels = new Dictionary<string, string> { ["pipeline.test"] = "true" },
        });
        _containers.Add(release);
        await _engine.StartContainerAsync(release);
        var address = (await _engine.InspectContainerAsync(release))!.NetworkAddresses[network];
        var output = new List<string>();

        // When
        await _runner.RunAsync(Run(TestType.PreIntegration, "fetch") with { Network = network, TargetUrl = new Uri($"http://{address}:8080/") }, output.Add);

        // Then
        output.ShouldContain("[pre-integration] release-green");
    }

    [Test]
    public async Task Should_Reach_A_Proxy_On_Host_Loopback_With_Host_Networking()
    {
        // Given something answering on 127.0.0.1 only, like the proxy
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var serving = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            while (!serving.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(serving.Token);
                var stream = client.GetStream();
                var buffer = new byte[4096];
                _ = await stream.ReadAsync(buffer, serving.Token);
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.0 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\nproxy-on-host\n"), serving.Token);
            }
        });
        var output = new List<string>();

        try
        {
            // When
            await _runner.RunAsync(Run(TestType.PostIntegration, "fetch") with { Network = TestRun.HostNetwork, TargetUrl = new Uri($"http://127.0.0.1:{port}/") }, output.Add);
        }
        finally
        {
            await serving.CancelAsync();
            await Should.ThrowAsync<OperationCanceledException>(() => server);
        }

        // Then
        output.ShouldContain("[post-integration] proxy-on-host");
    }

    [Test]
    public async Task Should_Remove_The_Container_When_The_Tests_Cannot_Start()
    {
        // Given a test image whose entrypoint does not exist
        var broken = new ImageRef(null, "pipeline-test-broken", TestEnvironment.UniqueName("t"));
        var context = BusyboxImage.CreateContext(new Dictionary<string, string> { ["Dockerfile.tests"] = $"FROM {_busybox}\nENTRYPOINT [\"/no/such/binary\"]\n" });
        try
        {
            await _engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile.tests", [broken], BusyboxImage.TestLabels));

            // When
            var error = await Should.ThrowAsync<DockerEngineException>(() => _runner.RunAsync(Run(TestType.PreDeployment) with { Image = broken.ToString() }));

            // Then
            error.StatusCode.ShouldNotBeNull();
            error.Message.ShouldContain("/no/such/binary");
            (await Leftovers()).ShouldBeEmpty();
        }
        finally
        {
            Directory.Delete(context, true);
            await BusyboxImage.RemoveImageAsync(broken);
        }
    }

    [Test]
    public async Task Should_Hand_Over_The_Removal_Of_A_Passed_Run_And_Await_That_Of_A_Failed_One()
    {
        // Given a runner that hands container removals to its caller
        var removals = new List<Task>();
        var runner = new TestContainerRunner(_engine, removeBeside: removals.Add);

        // When a run passes
        await runner.RunAsync(Run(TestType.PreDeployment));

        // Then its removal was handed over, and once it is done the container is gone
        var removal = removals.ShouldHaveSingleItem();
        await removal;
        (await Leftovers()).ShouldBeEmpty();

        // When a run fails
        await Should.ThrowAsync<TestsFailedException>(() => runner.RunAsync(Run(TestType.PreDeployment, "fail")));

        // Then its container was removed before the failure was reported, and nothing was handed over
        removals.Count.ShouldBe(1);
        (await Leftovers()).ShouldBeEmpty();
    }

    [Test]
    public void Should_Refuse_Extra_Variables_That_Redefine_The_Contract()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => TestContainerRunner.CreateSpec(Run(TestType.PreDeployment) with
        {
            Environment = new Dictionary<string, string> { ["TARGET_URL"] = "http://elsewhere/" },
        }));

        // Then
        error.Message.ShouldStartWith("The environment for pre-deployment tests for hello 1.4.0 (green) redefines TARGET_URL;");
    }

    private TestRun Run(TestType type, string? mode = null) => new()
    {
        Type = type,
        Image = _tests.ToString(),
        ServiceName = "hello",
        ServiceVersion = "1.4.0",
        ServiceColor = "green",
        Environment = mode is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["MODE"] = mode },
        Labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.deploy-id"] = _deployId },
    };

    private Task<IReadOnlyList<ContainerInfo>> Leftovers() =>
        _engine.ListContainersAsync(new Dictionary<string, string> { ["pipeline.deploy-id"] = _deployId, ["pipeline.role"] = "test" });
}
