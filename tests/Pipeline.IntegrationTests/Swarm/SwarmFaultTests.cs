using System.Diagnostics;
using System.Net;
using Pipeline.Configuration;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.IntegrationTests.Faults;
using Pipeline.Provisioning.Swarm;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// The rollback proof on the swarm: a service live in blue, a next version with one fault (a service that never
/// converges, a health path that never answers, an image the nodes cannot pull, post-integration tests that fail, a
/// manager that stops answering mid-deploy), and production must be exactly as before: snapshot(before) ==
/// snapshot(after), the message names the stage, the cause and what was undone, and the proxy still answers blue.
/// Bad input fails before anything changes.
/// </summary>
[NonParallelizable]
[Order(4)]
public sealed class SwarmFaultTests
{
    /// <summary>One row: the stage, the fault, how it is injected, and the message fragments it must produce.</summary>
    public sealed record Fault(
        string Stage,
        string Name,
        string? FailTestsAt = null,
        Action<string>? Break = null,
        Func<DeploymentOptions, DeploymentOptions>? Configure = null,
        Func<string, string[]>? Expected = null)
    {
        public override string ToString() => $"{Stage}: {Name}";
    }

    public static IEnumerable<TestCaseData> Faults()
    {
        Fault[] rows =
        [
            new("DeployRelease", "the service never converges (its command exits 1)",
                Break: dir => Replace(dir, "Dockerfile", "CMD [\"/bin/sh\", \"/serve.sh\"]", "CMD [\"/bin/sh\", \"-c\", \"echo crashing on purpose >&2; exit 1\"]"),
                Expected: service => [$"DeployRelease failed: {service}-green-", " failed, exit code 1: task: non-zero exit (1). Its output: docker service logs ", $"\nRolled back: removed release {service}-green-"]),
            new("DeployRelease", "the health path never answers",
                Break: dir => Replace(dir, "serve.sh", "  echo \"ok\" > \"$dir/health\"", "  [ \"${SERVICE_COLOR:-none}\" = none ] && echo \"ok\" > \"$dir/health\""),
                Configure: o => o with { HealthTimeout = TimeSpan.FromSeconds(8) },
                Expected: service => [$"DeployRelease failed: {service}-green-", " did not become healthy within 8 s: 2 of 2 task(s) running, 0 answering; http://", ":8080/health last answered: HTTP 404 (task ", $"\nRolled back: removed release {service}-green-"]),
            new("DeployRelease", "the nodes cannot pull the image (a registry only this machine reaches)",
                Configure: o => o with { ImageRegistry = TestEnvironment.ImageRegistry },
                Expected: service => [$"DeployRelease failed: {service}-green-", " rejected: ", $"The node could not run it: check that every node can pull {TestEnvironment.ImageRegistry}/{service}:", $"\nRolled back: removed release {service}-green-"]),
            new("PostIntegrationTests", "the tests exit non-zero",
                FailTestsAt: TestType.PostIntegration.ToContractName(),
                Expected: service => [$"post-integration tests for {service} ", " (green) exited with 7:\n    failing post-integration on purpose\n", "\nRolled back: restored registry key ", $", removed release {service}-green-"]),
        ];
        return rows.Select(row => new TestCaseData(row).SetName($"Should_Leave_The_Swarm_As_It_Was_When_{row.Stage}_Fails({row.Name})"));
    }

    [TestCaseSource(nameof(Faults))]
    public async Task Should_Leave_The_Swarm_As_It_Was_When_A_Stage_Fails(Fault fault)
    {
        // Given a service live in blue on the swarm, and its next version with the fault
        var live = await SwarmLiveService.SharedAsync();
        var version = SwarmLiveService.NextVersion();
        var dir = live.NextDirectory(version, fault.FailTestsAt);
        fault.Break?.Invoke(dir);
        var options = live.For(dir, version);
        options = fault.Configure?.Invoke(options) ?? options;
        var before = await live.SnapshotAsync();

        // When it is deployed
        var run = FaultRun.Execute(options);

        // Then the run failed saying where, why and what it undid, and the swarm is exactly as before
        run.ExitCode.ShouldNotBe(0);
        var message = run.Error.ShouldNotBeNull("the run logged no error");
        TestContext.Progress.WriteLine($"--- {fault}:\n{message}\n---");
        message.ShouldStartWith($"{fault.Stage} failed: ");
        foreach (var fragment in fault.Expected!(live.Service))
        {
            message.ShouldContain(fragment, Case.Sensitive);
        }

        if (fault.FailTestsAt is not null)
        {
            // (the pre-integration tests passed first, on the overlay, straight at the new service by its name)
            run.Log.ShouldContain(l => l.StartsWith($"[pre-integration] direct: http://{live.Service}-green-", StringComparison.Ordinal));
        }

        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Keep_The_Journal_When_The_Manager_Stops_Answering_Mid_Deploy_And_Roll_Back_Once_It_Is_Back()
    {
        // Given a service live in blue, and the manager's dockerd that this test can freeze (SIGSTOP) and thaw. The freeze
        // stays well under the swarm's node-down time (3 heartbeats of 5 s): longer, and the thawed manager would take its
        // workers for lost and move every task, blue's too.
        var live = await SwarmLiveService.SharedAsync();
        var version = SwarmLiveService.NextVersion();
        var options = live.For(live.NextDirectory(version), version) with
        {
            HealthTimeout = TimeSpan.FromSeconds(3),
            UndoTimeout = TimeSpan.FromSeconds(2),
        };
        var before = await live.SnapshotAsync();
        var manager = TestSwarm.Report.Nodes[0].Pid;
        var frozen = false;
        var thawed = false;
        void Thaw()
        {
            if (frozen && !thawed)
            {
                thawed = true;
                Signal("CONT", manager);
            }
        }

        // When the manager stops answering right after the new service was created, until the rollback gave up on it
        FaultRun run;
        try
        {
            run = FaultRun.Execute(options, onLine: line =>
            {
                if (!frozen && line.Contains("  [pull] Created service ", StringComparison.Ordinal))
                {
                    frozen = true;
                    Signal("STOP", manager);
                }
                else if (line.StartsWith("rollback: could not undo", StringComparison.Ordinal))
                {
                    Thaw();
                }
            });
        }
        finally
        {
            Thaw();
        }

        // Then the deploy failed in DeployRelease, the rollback could not reach the manager either, and the journal is kept
        frozen.ShouldBeTrue("the service was never created");
        run.ExitCode.ShouldNotBe(0);
        var message = run.Error.ShouldNotBeNull();
        TestContext.Progress.WriteLine($"--- manager frozen:\n{message}\n---");
        message.ShouldStartWith("DeployRelease failed: ");
        message.ShouldContain($"did not become healthy within 3 s", Case.Sensitive);
        message.ShouldContain($"FAILED to undo (kept in the journal, retry with --target=Rollback): removed release {live.Service}-green-", Case.Sensitive);
        (await live.Harness.Registry.GetPrefixAsync($"{live.Harness.KeyPrefix}/journal/{live.Service}/")).ShouldNotBeEmpty();

        // And once the manager answers again, --target=Rollback puts the swarm back as it was
        var rollback = FaultRun.Execute(options with { UndoTimeout = TimeSpan.FromSeconds(60) }, "Rollback");
        rollback.ExitCode.ShouldBe(0, rollback.Error);
        rollback.Log.ShouldContain(l => l.StartsWith($"Rollback of {live.Service}: removed release {live.Service}-green-", StringComparison.Ordinal));
        await ShouldBeAsBeforeAsync(live, before);
    }

    /// <summary>Bad input on the swarm: each fails with a clear message before anything changes.</summary>
    public static IEnumerable<TestCaseData> BadInputs()
    {
        var worker = TestSwarm.Options.Node(2);
        (string Name, Func<DeploymentOptions, DeploymentOptions> Change, string[] Arguments, Func<string, string> Expected)[] rows =
        [
            ("a production engine that is a worker", o => o with { ProductionEngine = new Pipeline.Docker.DockerEndpoint(worker.SocketUri) }, [],
                _ => $"production engine {worker.SocketUri} is a swarm worker, not a manager: services are created only through a manager. Point --production-docker-host (PRODUCTION_DOCKER_HOST) at a manager"),
            ("TLS files missing", o => o with { ProductionEngine = new Pipeline.Docker.DockerEndpoint(TestSwarm.Options.ManagerApi, true, "/nonexistent/pipeline-certs") }, [],
                _ => "/nonexistent/pipeline-certs"),
            ("0 replicas", o => o, ["--replicas=0"], _ => "--replicas=0: a release runs 1 to 100 replicas; e.g. --replicas=2"),
            ("negative replicas", o => o, ["--replicas=-2"], _ => "--replicas=-2: a release runs 1 to 100 replicas; e.g. --replicas=2"),
            ("a placement constraint no node satisfies", o => o, ["--placement-constraint=node.hostname==nowhere"],
                _ => "--placement-constraint=node.hostname==nowhere: no ready, active node of the swarm satisfies it (nodes: swarm-node1 (manager, ready, active), swarm-node2 (worker, ready, active), swarm-node3 (worker, ready, active)); fix the constraint or label a node"),
            ("a volume on the swarm", o => o, ["--volume=data:/srv/data"],
                _ => "--volume=data:/srv/data: releases on a swarm get no volumes (a named volume lives on one node, and a task moves between nodes); drop --volume or deploy with --orchestrator=containers"),
        ];
        return rows.Select(row => new TestCaseData(row.Change, row.Arguments, row.Expected).SetName($"Should_Refuse_Bad_Input_On_The_Swarm_Without_Changing_It({row.Name})"));
    }

    [TestCaseSource(nameof(BadInputs))]
    public async Task Should_Refuse_Bad_Input_On_The_Swarm_Without_Changing_It(Func<DeploymentOptions, DeploymentOptions> change, string[] arguments, Func<string, string> expected)
    {
        // Given a service live in blue on the swarm, and one bad input for its next deploy
        var live = await SwarmLiveService.SharedAsync();
        var version = SwarmLiveService.NextVersion();
        var options = change(live.For(live.NextDirectory(version), version));
        var before = await live.SnapshotAsync();

        // When it is deployed
        var run = CapturedPipeline.Run(options, arguments);

        // Then it fails saying what is wrong and how to fix it, and nothing on the swarm changed
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain(expected(live.Service), Case.Sensitive);
        run.All.ShouldNotContain("Rolled back: removed", Case.Sensitive);
        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Refuse_A_Manager_Whose_Certificate_Another_Ca_Signed_Without_Changing_The_Swarm()
    {
        // Given a certificate folder whose ca.pem is another CA's
        var live = await SwarmLiveService.SharedAsync();
        var folder = Directory.CreateTempSubdirectory("pipeline-swarm-wrong-ca-").FullName;
        try
        {
            using (var other = LocalCertificateAuthority.LoadOrCreate(Path.Combine(folder, "other"), "another CA", TimeSpan.FromDays(2), TimeSpan.Zero, TimeProvider.System, out _))
            {
                File.Copy(Path.Combine(folder, "other", "ca.pem"), Path.Combine(folder, "ca.pem"));
            }

            File.Copy(Path.Combine(TestSwarm.Options.ClientCertPath, "cert.pem"), Path.Combine(folder, "cert.pem"));
            File.Copy(Path.Combine(TestSwarm.Options.ClientCertPath, "key.pem"), Path.Combine(folder, "key.pem"));
            var version = SwarmLiveService.NextVersion();
            var options = live.For(live.NextDirectory(version), version) with { ProductionEngine = new Pipeline.Docker.DockerEndpoint(TestSwarm.Options.ManagerApi, true, folder) };
            var before = await live.SnapshotAsync();

            // When it is deployed through that folder
            var run = CapturedPipeline.Run(options);

            // Then Preflight refuses the manager, saying its certificate does not chain to that ca.pem, and nothing changed
            run.ExitCode.ShouldNotBe(0);
            run.All.ShouldContain("Preflight failed (nothing was changed)", Case.Sensitive);
            run.All.ShouldContain(
                $"production engine {options.ProductionEngine}: refused over TLS: The TLS handshake with the Docker engine at {options.ProductionEngine} failed while checking the engine: " +
                $"the engine's certificate (CN=swarm-node1, issued by CN=Pipeline test swarm CA) does not chain to a CA in {folder}/ca.pem (CN=another CA). Put the CA that signed the engine's certificate into {folder}/ca.pem",
                Case.Sensitive);
            await ShouldBeAsBeforeAsync(live, before);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Test]
    public async Task Should_Refuse_A_Manager_Reached_By_A_Name_Its_Certificate_Does_Not_List_Without_Changing_The_Swarm()
    {
        // Given the manager reached through a loopback relay: 127.0.0.1 is no name its certificate lists
        var live = await SwarmLiveService.SharedAsync();
        await using var relay = new TcpRelay(new System.Net.IPEndPoint(TestSwarm.Options.Node(1).Address, TestSwarm.Options.ManagerApiPort));
        var version = SwarmLiveService.NextVersion();
        var options = live.For(live.NextDirectory(version), version) with
        {
            ProductionEngine = new Pipeline.Docker.DockerEndpoint(new Uri($"tcp://127.0.0.1:{relay.Port}"), true, TestSwarm.Options.ClientCertPath),
        };
        var before = await live.SnapshotAsync();

        // When it is deployed
        var run = CapturedPipeline.Run(options);

        // Then Preflight refuses the manager, naming the names the certificate lists, and nothing changed
        run.ExitCode.ShouldNotBe(0);
        run.All.ShouldContain("Preflight failed (nothing was changed)", Case.Sensitive);
        run.All.ShouldContain(
            $"production engine {options.ProductionEngine}: refused over TLS: The TLS handshake with the Docker engine at {options.ProductionEngine} failed while checking the engine: " +
            $"the engine's certificate (CN=swarm-node1, issued by CN=Pipeline test swarm CA) is for swarm-node1, {TestSwarm.Options.Node(1).Address}, not 127.0.0.1. Connect with a name or address the certificate lists",
            Case.Sensitive);
        await ShouldBeAsBeforeAsync(live, before);
    }

    private static async Task ShouldBeAsBeforeAsync(SwarmLiveService live, Pipeline.Snapshots.ProductionSnapshot before)
    {
        (await live.Harness.Registry.GetPrefixAsync($"{live.Harness.KeyPrefix}/journal/{live.Service}/")).ShouldBeEmpty();
        before.Diff(await live.SnapshotAsync()).ShouldBeEmpty();
        var (status, served, body) = await live.Harness.GetThroughProxyAsync();
        (status, served, body.Trim()).ShouldBe((HttpStatusCode.OK, "blue", $"hello from {live.Service} 1.0.0 (blue)"));
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        kill.ExitCode.ShouldBe(0, $"kill -{signal} {pid}");
    }

    private static void Replace(string dir, string file, string from, string to)
    {
        var path = Path.Combine(dir, file);
        var text = File.ReadAllText(path);
        text.ShouldContain(from, Case.Sensitive, $"{file} changed: the fault cannot be injected");
        File.WriteAllText(path, text.Replace(from, to, StringComparison.Ordinal));
    }
}
