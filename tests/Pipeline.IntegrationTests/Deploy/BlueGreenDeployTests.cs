using System.Net;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Deploy;

[TestFixture("haproxy")]
[TestFixture("nginx")]
[NonParallelizable]
public sealed class BlueGreenDeployTests(string proxyKind)
{
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness(proxyKind);

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public async Task Should_Alternate_Colours_And_Keep_Only_The_Live_One_When_Deployed_Three_Times()
    {
        // Given a service that was never deployed
        var service = TestEnvironment.UniqueName("bg");
        var dir = _harness.CreateService(service);

        foreach (var (version, color) in new[] { ("1.0.0", "blue"), ("1.1.0", "green"), ("1.2.0", "blue") })
        {
            // When it is deployed
            PipelineHarness.Run(_harness.OptionsFor(dir, version)).ShouldBe(0, $"deploy of {version}");

            // Then the registry, the proxy and the engine all say the new colour, and only it runs
            (await _harness.Catalog.GetLiveColorAsync(service)).ShouldBe(color);
            var (status, served, body) = await _harness.GetThroughProxyAsync();
            status.ShouldBe(HttpStatusCode.OK);
            served.ShouldBe(color);
            body.Trim().ShouldBe($"hello from {service} {version} ({color})");
            var releases = await _harness.ReleasesAsync(service);
            releases.ShouldHaveSingleItem().Labels[Labels.Color].ShouldBe(color);
            releases[0].Labels[Labels.Version].ShouldBe(version);
            (await _harness.Catalog.GetReleaseAsync(service, color)).ShouldNotBeNull().Version.ShouldBe(version);
            (await _harness.Catalog.GetReleaseAsync(service, color == "blue" ? "green" : "blue")).ShouldBeNull();
        }

        (await _harness.Catalog.GetHistoryAsync(service, 10)).Select(h => h.Color).ShouldBe(["blue", "green", "blue"]);
    }

    [Test]
    public async Task Should_Ask_Health_From_One_Long_Lived_Probe_Of_The_Network_Started_By_The_First_Deploy()
    {
        // Given a service that was never deployed, on a network with no probe
        var service = TestEnvironment.UniqueName("probe");
        var dir = _harness.CreateService(service);
        (await NetworkProbesAsync()).ShouldBeEmpty();

        // When it is deployed twice
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        var first = (await NetworkProbesAsync()).ShouldHaveSingleItem();
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.1.0")).ShouldBe(0);

        // Then one probe, started beside the first release and labelled with the network and that deploy, served both
        var history = await _harness.Catalog.GetHistoryAsync(service, 10);
        var probe = (await NetworkProbesAsync()).ShouldHaveSingleItem();
        probe.Id.ShouldBe(first.Id);
        probe.IsRunning.ShouldBeTrue();
        probe.Labels[Labels.DeployId].ShouldBe(history.Single(h => h.Version == "1.0.0").DeployId);
        probe.Labels.ShouldNotContainKey(Labels.Service);
        probe.Name.ShouldStartWith($"{_harness.Network}-probe-");
        (await _harness.Engine.InspectContainerAsync(probe.Id)).ShouldNotBeNull().RestartPolicy.ShouldBe("unless-stopped");
    }

    [Test]
    public async Task Should_Run_The_Pre_Integration_Tests_In_The_Network_Stack_Of_The_Networks_Probe()
    {
        // Given a service whose tests print the addresses they run from
        var service = TestEnvironment.UniqueName("stack");
        var dir = _harness.CreateService(service);
        ExampleService.RunFirstInTests(dir, $"echo \"running from: {ExampleService.Addresses}\"");

        // When it is deployed twice (the first deploy starts the probe beside its release)
        foreach (var version in new[] { "1.0.0", "1.1.0" })
        {
            var run = Faults.FaultRun.Execute(_harness.OptionsFor(dir, version));
            run.ExitCode.ShouldBe(0, run.Error);

            // Then the pre-integration tests ran from the probe's own address on the release network, and only there
            var probe = (await NetworkProbesAsync()).ShouldHaveSingleItem();
            var from = run.Log.Where(l => l.StartsWith("[pre-integration] running from: ", StringComparison.Ordinal)).ShouldHaveSingleItem();
            from["[pre-integration] running from: ".Length..].Trim().ShouldBe(probe.NetworkAddresses[_harness.Network], version);
        }
    }

    [Test]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Should_Retire_The_Old_Colour_Only_After_Its_Request_In_Flight_Was_Answered()
    {
        // Given a live release with a path that answers after 6 s, and a request on that path in flight through the proxy
        var (service, dir) = DeployWithSlowPath("drain");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var inFlight = await StartSlowRequestAsync(http, service, "blue");

        // When the next version is deployed
        var run = Faults.FaultRun.Execute(_harness.OptionsFor(dir, "1.1.0"));

        // Then the slow request was answered in full by blue, and the log says blue drained before it was removed
        run.ExitCode.ShouldBe(0, run.Error);
        using var answer = await inFlight;
        answer.StatusCode.ShouldBe(HttpStatusCode.OK);
        answer.Headers.GetValues("X-Pipeline-Color").ShouldHaveSingleItem().ShouldBe("blue");
        (await answer.Content.ReadAsStringAsync()).Trim().ShouldBe("slow answer");
        var log = run.Log.ToList();
        var drained = log.FindIndex(l => l.Contains("has no request in flight to blue", StringComparison.Ordinal));
        drained.ShouldBeGreaterThanOrEqualTo(0, string.Join('\n', log));
        var removed = log.FindIndex(l => l.StartsWith("Removed ", StringComparison.Ordinal) && l.Contains("(blue, 1.0.0)", StringComparison.Ordinal));
        removed.ShouldBeGreaterThan(drained, string.Join('\n', log));
        (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem().Labels[Labels.Color].ShouldBe("green");
    }

    [Test]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Should_Remove_The_New_Colour_In_A_Rollback_Only_After_Its_Request_In_Flight_Was_Answered()
    {
        // Given a live release with a path that answers after 6 s, and a next version whose post-integration tests fail after 4 s
        var (service, dir) = DeployWithSlowPath("undrain");
        ExampleService.RunFirstInTests(dir, "[ \"$TEST_TYPE\" = post-integration ] && { sleep 4; echo \"failing post-integration on purpose\"; exit 7; }");

        // When it is deployed, and a request on the slow path goes to the new colour once the proxy serves it
        var deploy = Task.Run(() => Faults.FaultRun.Execute(_harness.OptionsFor(dir, "1.1.0")));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((await _harness.GetThroughProxyAsync()).Color != "green")
        {
            deploy.IsCompleted.ShouldBeFalse("the deploy ended before the proxy served green");
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromMinutes(2), "the proxy never served green");
            await Task.Delay(20);
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var inFlight = await StartSlowRequestAsync(http, service, "green");

        // Then the deploy failed and rolled back, but green answered the slow request in full before it was removed
        var run = await deploy;
        run.ExitCode.ShouldNotBe(0);
        using var answer = await inFlight;
        answer.StatusCode.ShouldBe(HttpStatusCode.OK);
        answer.Headers.GetValues("X-Pipeline-Color").ShouldHaveSingleItem().ShouldBe("green");
        (await answer.Content.ReadAsStringAsync()).Trim().ShouldBe("slow answer");
        run.Log.ShouldContain(
            l => l.StartsWith($"rollback: removed release {service}-green-", StringComparison.Ordinal) && l.Contains(" (after ", StringComparison.Ordinal),
            string.Join('\n', run.Log));
        (await _harness.GetThroughProxyAsync()).Color.ShouldBe("blue");
        (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem().Labels[Labels.Color].ShouldBe("blue");
    }

    [Test]
    public async Task Should_Remove_Everything_It_Started_When_The_First_Deploy_Fails_After_The_Switch()
    {
        // Given no proxy, network or keys yet
        var service = TestEnvironment.UniqueName("first");
        var before = await _harness.SnapshotAsync(service);

        // When the very first deploy fails in post-integration tests
        PipelineHarness.Run(_harness.OptionsFor(_harness.CreateService(service, TestType.PostIntegration.ToContractName()), "1.0.0")).ShouldNotBe(0);

        // Then the proxy container, the network, the release and the keys are gone again
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
        (await _harness.Proxy.FindContainerAsync()).ShouldBeNull();
        (await NetworkProbesAsync()).ShouldBeEmpty();
    }

    /// <summary>Sends a request for /cgi-bin/slow through the proxy; returns it once the proxy counts it in flight to <paramref name="color"/>.</summary>
    private async Task<Task<HttpResponseMessage>> StartSlowRequestAsync(HttpClient http, string service, string color)
    {
        var inFlight = http.GetAsync(new Uri(_harness.ProxyUrl, "/cgi-bin/slow"));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (await _harness.Proxy.InFlightAsync(service, color) == 0)
        {
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5), $"the proxy never counted the slow request to {color}");
            await Task.Delay(20);
        }

        return inFlight;
    }

    /// <summary>Deploys 1.0.0 (blue) of a new service with /cgi-bin/slow, which answers "slow answer" after 6 s; returns its name and folder.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private (string Service, string Dir) DeployWithSlowPath(string prefix)
    {
        var service = TestEnvironment.UniqueName(prefix);
        var dir = _harness.CreateService(service);
        var slow = Path.Combine(dir, "slow");
        File.WriteAllText(slow, "#!/bin/sh\nsleep 6\necho Content-Type: text/plain\necho\necho slow answer\n");
        File.SetUnixFileMode(slow, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.AppendAllText(Path.Combine(dir, "Dockerfile"), "\nCOPY slow /www/cgi-bin/slow\n");
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        return (service, dir);
    }

    /// <summary>The long-lived probes on the harness's network.</summary>
    private async Task<IReadOnlyList<Pipeline.Docker.ContainerInfo>> NetworkProbesAsync() =>
        await _harness.Engine.ListContainersAsync(new Dictionary<string, string> { [Labels.Role] = Roles.Probe, [Labels.Network] = _harness.Network });
}
