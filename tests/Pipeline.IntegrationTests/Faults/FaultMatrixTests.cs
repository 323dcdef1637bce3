using System.Net;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Registry;
using Pipeline.Provisioning;
using Pipeline.Registry;
using Pipeline.Snapshots;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Faults;

/// <summary>
/// The fault matrix: for every stage, each failure that can really happen there is injected with real processes
/// (a failing build, a test container that exits non-zero, a proxy that rejects its config, a killed registry,
/// engine relay or etcd), the real pipeline runs in-process on top of a service already live in blue, and
/// production must be exactly as before: snapshot(before) == snapshot(after), the run failed with a message naming
/// the stage, the cause and what was rolled back, the journal is empty and the proxy still answers from blue.
/// </summary>
[NonParallelizable]
public sealed partial class FaultMatrixTests
{
    private static int _versions;
    private readonly Dictionary<string, LiveService> _live = [];
    private readonly Dictionary<string, PipelineHarness> _harnesses = [];
    private readonly List<IDisposable> _owned = [];
    private FaultProcesses _processes = null!;
    private (LocalServicesOptions Options, int Pid)? _etcd;

    /// <summary>A service live in blue (1.0.0) behind a harness's proxy, shared by the rows that do not interfere.</summary>
    private sealed record LiveService(PipelineHarness Harness, string Service, string Route, IServiceRegistry Registry, DeploymentOptions Options)
    {
        public ServiceCatalog Catalog => new(Registry, Harness.KeyPrefix);

        public Task<ProductionSnapshot> SnapshotAsync() =>
            ProductionSnapshot.CaptureAsync(Service, Harness.KeyPrefix, Harness.Runtime, Registry, Harness.Proxy);

        public async Task<IReadOnlyDictionary<string, string>> JournalAsync() =>
            await Registry.GetPrefixAsync($"{Harness.KeyPrefix}/journal/{Service}/");

        /// <summary>A copy of the service's folder for one run of <paramref name="version"/>.</summary>
        public string NextDirectory(string version, string? failAt = null) => Harness.CreateService($"{Service}-{version}", failAt);

        public DeploymentOptions For(string directory, string version) => Options with { ServiceDirectory = directory, Version = version };

        public Expect Expect(string version, string directory) =>
            new(Service, version, directory, Options.ImageRegistry, Catalog.ColorKey(Service), Catalog.ReleaseKey(Service, "green"));
    }

    /// <summary>One row: the stage, the fault, the proxy, how the fault is injected (failing tests, a broken file, options) and the message fragments it must produce.</summary>
    public sealed record Fault(
        string Stage,
        string Name,
        string ProxyKind,
        string? FailTestsAt = null,
        Action<string>? Break = null,
        Func<DeploymentOptions, string, DeploymentOptions>? Configure = null,
        Func<Expect, string[]>? Expected = null)
    {
        public override string ToString() => $"{Stage}: {Name} ({ProxyKind})";
    }

    /// <summary>The names a row's expected message fragments are made of.</summary>
    public sealed record Expect(string Service, string Version, string Directory, string ImageRegistry, string ColorKey, string ReleaseKey)
    {
        public string NothingUndone => "\nNothing in production was changed.";
        public string ContainerRemoved => $"\nRolled back: removed release {Service}-green-";
        public string RegistrationUndone => $"\nRolled back: deleted registry key {ReleaseKey}, removed release {Service}-green-";
        public string SwitchUndone => $"\nRolled back: restored registry key {ColorKey}, restored the proxy config from the registry, deleted registry key {ReleaseKey}, removed release {Service}-green-";

        /// <summary>A run with its own template restores the exact config that was live (its template would render another; nobody changed the proxy since).</summary>
        public string TemplatedSwitchUndone => $"\nRolled back: restored registry key {ColorKey}, restored the previous proxy config, deleted registry key {ReleaseKey}, removed release {Service}-green-";

        /// <summary>A switch whose config the proxy rejected left the previous config running: the restore changes nothing.</summary>
        public string RejectedSwitchUndone => $"\nRolled back: restored registry key {ColorKey}, the proxy still ran the previous config, deleted registry key {ReleaseKey}, removed release {Service}-green-";
    }

    public static IEnumerable<TestCaseData> Faults()
    {
        Fault[] rows =
        [
            new("PreDeploymentTests", "test image build fails", "haproxy",
                Break: dir => Append(dir, "Dockerfile.tests", "RUN echo breaking the test image on purpose && false"),
                Expected: e =>
                [
                    $"Building {e.Directory}/Dockerfile.tests ({e.ImageRegistry}/{e.Service}/tests:{e.Version}) on {TestEnvironment.Docker} failed: The command '/bin/sh -c echo breaking the test image on purpose && false' returned a non-zero code: 1\n",
                    e.NothingUndone,
                ]),
            new("PreDeploymentTests", "test container exits non-zero", "haproxy",
                FailTestsAt: TestType.PreDeployment.ToContractName(),
                Expected: e => [$"pre-deployment tests for {e.Service} {e.Version} exited with 7:\n    failing pre-deployment on purpose\n", e.NothingUndone]),
            new("BuildImage", "a RUN step fails", "haproxy",
                Break: dir => Append(dir, "Dockerfile", "RUN echo breaking the build on purpose && exit 3"),
                Expected: e =>
                [
                    $"Building {e.Directory}/Dockerfile ({e.ImageRegistry}/{e.Service}:{e.Version}) on {TestEnvironment.Docker} failed: The command '/bin/sh -c echo breaking the build on purpose && exit 3' returned a non-zero code: 3\n",
                    e.NothingUndone,
                ]),
            new("BuildImage", "COPY of a missing file", "haproxy",
                Break: dir => Append(dir, "Dockerfile", "COPY no-such-file.txt /no-such-file.txt"),
                Expected: e =>
                [
                    $"Building {e.Directory}/Dockerfile ({e.ImageRegistry}/{e.Service}:{e.Version}) on {TestEnvironment.Docker} failed: COPY failed: file not found in build context or excluded by .dockerignore: stat no-such-file.txt: file does not exist\n",
                    e.NothingUndone,
                ]),
            new("DeployRelease", "health never answers 2xx", "haproxy",
                Break: dir => Replace(dir, "serve.sh", "  echo \"ok\" > \"$dir/health\"", "  [ \"${SERVICE_COLOR:-none}\" = none ] && echo \"ok\" > \"$dir/health\""),
                Configure: (o, _) => o with { HealthTimeout = TimeSpan.FromSeconds(2) },
                Expected: e =>
                [
                    $"DeployRelease failed: {e.Service}-green-",
                    " did not become healthy within 2 s: http://",
                    ":8080/health last answered: HTTP 404. Raise --health-timeout or fix the service's /health.\n",
                    e.ContainerRemoved,
                ]),
            new("DeployRelease", "release container exits at start", "haproxy",
                Break: dir => Replace(dir, "Dockerfile", "CMD [\"/bin/sh\", \"/serve.sh\"]", "CMD [\"/bin/sh\", \"-c\", \"echo crashing on purpose >&2; exit 1\"]"),
                Expected: e => [$"DeployRelease failed: {e.Service}-green-", " stopped (restarting) before ", $". Its output: docker logs {e.Service}-green-", e.ContainerRemoved]),
            new("PreIntegrationTests", "test container exits non-zero", "haproxy",
                FailTestsAt: TestType.PreIntegration.ToContractName(),
                Expected: e => [$"pre-integration tests for {e.Service} {e.Version} (green) exited with 7:\n    failing pre-integration on purpose\n", e.RegistrationUndone]),
        ];
        foreach (var row in rows)
        {
            yield return Row(row);
        }

        foreach (var kind in new[] { "haproxy", "nginx" })
        {
            yield return Row(new("SwitchProxy", "config rejected by the validator", kind,
                Configure: (o, dir) => o with { ProxyTemplate = Template(dir, kind, invalid: true) },
                Expected: e =>
                [
                    $"SwitchProxy failed: {kind} rejected the rendered config:\n",
                    kind == "haproxy" ? "unknown keyword 'no-such-directive' in 'global' section" : "unknown directive \"no_such_directive\" in <candidate config>",
                    e.RejectedSwitchUndone, // the live config is still the previous one: the restore applies nothing
                ]));
            yield return Row(new("SwitchProxy", "switch never confirmed", kind,
                Configure: (o, dir) => o with { ProxyTemplate = Template(dir, kind, invalid: false), SwitchTimeout = TimeSpan.FromSeconds(2) },
                Expected: e => [$"/ did not answer from green within 2 s; last: HTTP 200 from colour (none).\n", e.TemplatedSwitchUndone]));
            yield return Row(new("PostIntegrationTests", "test container exits non-zero", kind,
                FailTestsAt: TestType.PostIntegration.ToContractName(),
                Expected: e => [$"post-integration tests for {e.Service} {e.Version} (green) exited with 7:\n    failing post-integration on purpose\n", e.SwitchUndone]));
        }

        static TestCaseData Row(Fault fault) =>
            new TestCaseData(fault).SetName($"Should_Leave_Production_As_It_Was_When_{fault.Stage}_Fails({fault.Name}, {fault.ProxyKind})");
    }

    [OneTimeSetUp]
    public void CreateProcesses()
    {
        _processes = new FaultProcesses();
        _owned.Add(_processes);
    }

    [OneTimeTearDown]
    public void RemoveEverything()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            owned.Dispose();
        }
    }

    [TestCaseSource(nameof(Faults))]
    public async Task Should_Leave_Production_As_It_Was_When_A_Stage_Fails(Fault fault)
    {
        // Given a service live in blue, and its next version with the fault
        var live = await LiveInBlueAsync(fault.ProxyKind);
        var version = NextVersion();
        var dir = live.NextDirectory(version, fault.FailTestsAt);
        fault.Break?.Invoke(dir);
        var options = live.For(dir, version);
        options = fault.Configure?.Invoke(options, dir) ?? options;
        var before = await live.SnapshotAsync();

        // When it is deployed
        var run = FaultRun.Execute(options);

        // Then the run failed, says where, why and what it undid, and production is exactly as before
        run.ExitCode.ShouldNotBe(0);
        ShouldNameStageCauseAndUndo(run, fault.Stage, fault.Expected!(live.Expect(version, dir)));
        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Leave_Production_As_It_Was_When_PushImage_Fails_Because_The_Image_Registry_Stopped()
    {
        // Given a service live in blue whose images go through a private image registry
        var registry = _processes.PrivateRegistry();
        var registryPid = await _processes.StartServiceAsync(registry, "image registry");
        var live = await LiveInBlueAsync("haproxy", "push", "/push/", o => o with { ImageRegistry = registry.ImageRegistry });
        var version = NextVersion();
        var dir = live.NextDirectory(version);
        var before = await live.SnapshotAsync();

        // When the next version is deployed and the registry is killed once Preflight found it up and the
        // pre-deployment tests passed (a registry that is down from the start is Preflight's, see BadInput)
        var run = FaultRun.Execute(live.For(dir, version), onLine: line =>
        {
            if (line.Contains("PASS: pre-deployment", StringComparison.Ordinal))
            {
                _processes.Kill(registryPid);
            }
        });

        // Then the push failed (reported as PushImage's, though the pushes ran beside the lock: production waits for
        // them), nothing in production had changed yet, and nothing has
        run.ExitCode.ShouldNotBe(0);
        ShouldNameStageCauseAndUndo(run, "PushImage",
        [
            $"PushImage failed: Pushing image {registry.ImageRegistry}/{live.Service}",
            $" to {registry.ImageRegistry} on {TestEnvironment.Docker} failed: Get \"http://{registry.ImageRegistry}/v2/\": dial tcp {registry.ImageRegistry}: connect: connection refused\n",
            "\nRolled back: nothing to undo.",
        ]);
        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Keep_The_Journal_And_Roll_Back_Later_When_The_Production_Engine_Is_Lost_In_DeployRelease()
    {
        // Given a service live in blue, a production engine reached through a relay the test can kill, and a next
        // version that takes 3 s to become healthy
        var live = await LiveInBlueAsync("haproxy");
        var socket = Path.Combine(_processes.StateDirectory, "engine.sock");
        var relay = await _processes.StartEngineRelayAsync(socket);
        var version = NextVersion();
        var dir = live.NextDirectory(version);
        Replace(dir, "Dockerfile", "CMD [\"/bin/sh\", \"/serve.sh\"]", "CMD [\"/bin/sh\", \"-c\", \"sleep 3; exec /bin/sh /serve.sh\"]");
        var options = live.For(dir, version) with { ProductionEngine = new DockerEndpoint(new Uri($"unix://{socket}")) };
        var before = await live.SnapshotAsync();

        // When the relay dies as soon as the new release container exists (while the pipeline waits for its health;
        // by name: the image build's intermediate containers carry the release labels too)
        using var stop = new CancellationTokenSource();
        var killer = KillWhenAsync(
            async () => (await live.Harness.ReleasesAsync(live.Service)).Any(c => c.Name.StartsWith($"{live.Service}-green-", StringComparison.Ordinal)),
            () => _processes.Kill(relay),
            stop.Token);
        var run = FaultRun.Execute(options);
        await stop.CancelAsync();
        (await killer).ShouldBeTrue("the new release container never appeared");

        // Then the run failed in DeployRelease, and reports that the rollback could not reach the engine either
        run.ExitCode.ShouldNotBe(0);
        ShouldNameStageCauseAndUndo(run, "DeployRelease",
        [
            $"DeployRelease failed: Could not reach the Docker engine at unix://{socket} while ",
            $"\nRolled back: nothing; FAILED to undo (kept in the journal, retry with --target=Rollback): removed release {live.Service}-green-",
            $": Could not reach the Docker engine at unix://{socket} while listing containers labelled pipeline.service={live.Service}, pipeline.color=green, pipeline.deploy-id=",
        ]);
        var kept = (await live.JournalAsync()).Values.ShouldHaveSingleItem();
        kept.ShouldContain("\"kind\":\"remove-release\"");
        before.Diff(await live.SnapshotAsync()).ShouldNotBeEmpty();
        (await live.Harness.GetThroughProxyAsync(live.Route)).Color.ShouldBe("blue");

        // And when the engine is reachable again, --target=Rollback puts production back as it was
        await _processes.StartEngineRelayAsync(socket);
        var rollback = FaultRun.Execute(options, "Rollback");
        rollback.ExitCode.ShouldBe(0, rollback.Error);
        rollback.Log.ShouldContain(l => l.StartsWith($"Rollback of {live.Service}: removed release {live.Service}-green-", StringComparison.Ordinal));
        await ShouldBeAsBeforeAsync(live, before);
    }

    [TestCase("RegisterRelease", " is healthy at ", "get the release key")]
    [TestCase("SwitchProxy", "PASS: pre-integration", "take the proxy lock")]
    public async Task Should_Keep_The_Journal_And_Roll_Back_Later_When_Etcd_Is_Lost(string failingStage, string killWhenTheLogSays, string failingCall)
    {
        // Given a service live in blue on a private etcd the test can kill and restart
        var etcd = await PrivateEtcdAsync();
        var registry = new EtcdRegistry([etcd.Etcd], credentials: PrivateEtcd.Credentials(etcd));
        _owned.Add(registry);
        var live = await LiveInBlueAsync("haproxy", "etcd", "/", o => PrivateEtcd.Use(o, etcd), registry);
        var version = NextVersion();
        var options = live.For(live.NextDirectory(version), version);
        var before = await live.SnapshotAsync();

        // When etcd is killed at a chosen point of the run
        var killed = false;
        var run = FaultRun.Execute(options, onLine: line =>
        {
            if (!killed && line.Contains(killWhenTheLogSays, StringComparison.Ordinal))
            {
                killed = true;
                _processes.Kill(_etcd!.Value.Pid);
            }
        });
        killed.ShouldBeTrue($"the log never said '{killWhenTheLogSays}'");

        // Then the run failed in that stage, and the rollback could not reach etcd either: the journal is kept
        run.ExitCode.ShouldNotBe(0);
        var url = etcd.Etcd.ToString().TrimEnd('/');
        // (a pooled keep-alive connection to the killed etcd reads as "connection reset", a new one as "refused")
        var journal = $"to list keys under '{live.Harness.KeyPrefix}/journal/{live.Service}/': connection ";
        var cause = failingCall == "take the proxy lock" ? "to grant a lease of 10 s: connection " : $"to get '{live.Catalog.ReleaseKey(live.Service, "green")}': connection ";
        ShouldNameStageCauseAndUndo(run, failingStage,
        [
            $"{failingStage} failed: Could not reach etcd at {url} {cause}",
            $"\nThe rollback failed too: Could not reach etcd at {url} {journal}",
            "Start etcd or set --registry-endpoints.\nThe journal is kept: run --target=Rollback to retry.",
        ]);
        run.Error.ShouldNotBeNull().ShouldMatch(@"': connection (refused|reset)\. Start etcd or set --registry-endpoints\.\n");

        // And when etcd restarts on the same data and ports, --target=Rollback puts production back as it was
        _etcd = (etcd, await _processes.StartServiceAsync(etcd, "etcd"));
        (await live.JournalAsync()).ShouldNotBeEmpty();
        before.Diff(await live.SnapshotAsync()).ShouldNotBeEmpty();
        var rollback = FaultRun.Execute(options, "Rollback");
        rollback.ExitCode.ShouldBe(0, rollback.Error);
        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Keep_The_New_Release_And_Say_So_When_RetireOldRelease_Fails_After_The_Commit()
    {
        // Given a service live in blue, and a production engine reached through a relay the test can kill
        var live = await LiveInBlueAsync("haproxy", "retire", "/retire/");
        var socket = Path.Combine(_processes.StateDirectory, "retire-engine.sock");
        var relay = await _processes.StartEngineRelayAsync(socket);
        var version = NextVersion();
        var options = live.For(live.NextDirectory(version), version) with { ProductionEngine = new DockerEndpoint(new Uri($"unix://{socket}")) };

        // When the relay dies once the post-integration tests passed (RetireOldRelease commits first: history, journal cleared)
        var killed = false;
        var run = FaultRun.Execute(options, onLine: line =>
        {
            if (!killed && line.Contains("PASS: post-integration", StringComparison.Ordinal))
            {
                killed = true;
                _processes.Kill(relay);
            }
        });
        killed.ShouldBeTrue();

        // Then the run failed in RetireOldRelease without rolling back: the new version is live, the old one is left
        run.ExitCode.ShouldNotBe(0);
        ShouldNameStageCauseAndUndo(run, "RetireOldRelease",
        [
            $"RetireOldRelease failed: {live.Service} {version} is live as green (the deploy is committed; nothing is rolled back), but retiring the old release failed: ",
            $"Could not reach the Docker engine at unix://{socket} while listing containers labelled pipeline.service={live.Service}, pipeline.role=release: Connection refused",
            $" The next deploy of {live.Service} removes what is left of it.\nRolled back: nothing to undo.",
        ]);
        (await live.JournalAsync()).ShouldBeEmpty();
        (await live.Catalog.GetLiveColorAsync(live.Service)).ShouldBe("green");
        var (status, served, body) = await live.Harness.GetThroughProxyAsync(live.Route);
        (status, served, body.Trim()).ShouldBe((HttpStatusCode.OK, "green", $"hello from {live.Service} {version} (green)"));
        (await live.Harness.ReleasesAsync(live.Service)).Select(c => $"{c.Labels[Labels.Color]} {c.Labels[Labels.Version]}").Order().ShouldBe(["blue 1.0.0", $"green {version}"]);

        // And the next deploy retires what was left
        var next = NextVersion();
        var again = FaultRun.Execute(live.For(live.NextDirectory(next), next));
        again.ExitCode.ShouldBe(0, again.Error);
        (await live.Harness.ReleasesAsync(live.Service)).Select(c => $"{c.Labels[Labels.Color]} {c.Labels[Labels.Version]}").ShouldBe([$"blue {next}"]);
        (await live.Catalog.GetReleaseAsync(live.Service, "green")).ShouldBeNull();
    }

    private async Task<LocalServicesOptions> PrivateEtcdAsync()
    {
        if (_etcd is null)
        {
            var options = _processes.PrivateEtcd();
            _etcd = (options, await _processes.StartServiceAsync(options, "etcd"));
        }

        return _etcd.Value.Options;
    }

    private static async Task<bool> KillWhenAsync(Func<Task<bool>> condition, Action kill, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            if (await condition())
            {
                kill();
                return true;
            }

            await Task.Delay(50, CancellationToken.None);
        }

        return false;
    }

    private static async Task ShouldBeAsBeforeAsync(LiveService live, ProductionSnapshot before)
    {
        (await live.JournalAsync()).ShouldBeEmpty();
        before.Diff(await live.SnapshotAsync()).ShouldBeEmpty();
        var (status, served, body) = await live.Harness.GetThroughProxyAsync(live.Route);
        status.ShouldBe(HttpStatusCode.OK);
        served.ShouldBe("blue");
        body.Trim().ShouldBe($"hello from {live.Service} 1.0.0 (blue)");
    }

    private static void ShouldNameStageCauseAndUndo(FaultRun run, string stage, IEnumerable<string> fragments)
    {
        var message = run.Error.ShouldNotBeNull("the run logged no error");
        TestContext.Progress.WriteLine($"--- {stage}:\n{message}\n---");
        message.ShouldStartWith($"{stage} failed: ");
        foreach (var fragment in fragments)
        {
            message.ShouldContain(fragment, Case.Sensitive);
        }
    }

    /// <summary>
    /// The service live in blue for <paramref name="key"/>, deployed on first use. Rows on the running etcd share
    /// one harness (proxy, network, key prefix) per proxy kind, each service on its own route; a row on a private
    /// etcd brings its own harness, since the proxy config is rendered from every route in the registry.
    /// </summary>
    private async Task<LiveService> LiveInBlueAsync(
        string proxyKind,
        string key = "matrix",
        string route = "/",
        Func<DeploymentOptions, DeploymentOptions>? configure = null,
        IServiceRegistry? registry = null,
        bool ownHarness = false)
    {
        if (_live.TryGetValue($"{proxyKind}/{key}", out var existing))
        {
            return existing;
        }

        PipelineHarness harness;
        if (registry is null && !ownHarness && _harnesses.TryGetValue(proxyKind, out var shared))
        {
            harness = shared;
        }
        else
        {
            harness = new PipelineHarness(proxyKind);
            _owned.Add(harness);
            if (registry is null && !ownHarness)
            {
                _harnesses[proxyKind] = harness;
            }
        }

        var service = TestEnvironment.UniqueName("fault");
        var options = harness.OptionsFor(harness.CreateService(service), "1.0.0", route) with
        {
            Service = service,
            UndoTimeout = TimeSpan.FromSeconds(10),
        };
        options = configure?.Invoke(options) ?? options;
        var run = FaultRun.Execute(options);
        run.ExitCode.ShouldBe(0, $"deploying {service} 1.0.0 in blue: {run.Error}");
        var live = new LiveService(harness, service, route, registry ?? harness.Registry, options);
        _live[$"{proxyKind}/{key}"] = live;
        return live;
    }

    private static string NextVersion() => $"2.{Interlocked.Increment(ref _versions)}.0";

    private static void Append(string dir, string file, string line) =>
        File.AppendAllText(Path.Combine(dir, file), $"\n{line}\n");

    private static void Replace(string dir, string file, string from, string to)
    {
        var path = Path.Combine(dir, file);
        var text = File.ReadAllText(path);
        text.ShouldContain(from, Case.Sensitive, $"{file} changed: the fault cannot be injected");
        File.WriteAllText(path, text.Replace(from, to, StringComparison.Ordinal));
    }

    /// <summary>
    /// The built-in HAProxy template plus a comment naming each route's live colour: HAProxy cannot change a printed
    /// value at runtime, so every colour switch with it is a reload (the path the reload faults need).
    /// </summary>
    private static string LiveColourTemplate(string dir)
    {
        var text = File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "src", "Pipeline", "Proxy", "Templates", "haproxy.cfg.liquid"));
        var path = Path.Combine(dir, "user-live-colour-haproxy.cfg.liquid");
        File.WriteAllText(path, text + "\n{% for route in routes %}# {{ route.id }} is live in {{ route.color }}\n{% endfor %}");
        return path;
    }

    /// <summary>
    /// A user template from the built-in one: with a directive the proxy's validator rejects, or (valid) without
    /// the colour header the switch is confirmed by.
    /// </summary>
    private static string Template(string dir, string kind, bool invalid)
    {
        var name = kind == "haproxy" ? "haproxy.cfg.liquid" : "nginx.conf.liquid";
        var text = File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "src", "Pipeline", "Proxy", "Templates", name));
        if (invalid)
        {
            var (anchor, directive) = kind == "haproxy"
                ? ("    maxconn 4096\n", "    no-such-directive on\n")
                : ("    server_tokens off;\n", "    no_such_directive on;\n");
            text.ShouldContain(anchor, Case.Sensitive);
            text = text.Replace(anchor, anchor + directive, StringComparison.Ordinal);
        }
        else
        {
            var lines = text.Split('\n');
            lines.Count(l => l.Contains("X-Pipeline-Color", StringComparison.Ordinal)).ShouldBe(1);
            text = string.Join('\n', lines.Where(l => !l.Contains("X-Pipeline-Color", StringComparison.Ordinal)));
        }

        var path = Path.Combine(dir, $"user-{name}");
        File.WriteAllText(path, text);
        return path;
    }
}
