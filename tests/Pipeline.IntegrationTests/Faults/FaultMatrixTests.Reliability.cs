using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Pipeline.Locking;
using Pipeline.Snapshots;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Faults;

/// <summary>
/// Faults during the rollback and around it (issue 9): the proxy cannot be restored, a proxy config only partly applied,
/// a lost deploy lock, and a shared proxy that a failed first deploy created.
/// </summary>
public sealed partial class FaultMatrixTests
{
    [Test]
    public async Task Should_Keep_The_Live_Release_When_The_Proxy_Restore_Fails_During_The_Rollback()
    {
        // Given a service live in blue on its own proxy, whose runtime changes fail after the switch's
        var live = await LiveInBlueAsync("haproxy", "restore-fails", "/", ownHarness: true);
        var version = NextVersion();
        var options = live.For(live.NextDirectory(version, TestType.PostIntegration.ToContractName()), version);
        var before = await live.SnapshotAsync();
        await ProxySabotage.InstallAsync(live.Harness, ProxySabotage.Mode.RefuseRuntimeChangesAfterTheSwitch);
        try
        {
            // When the next version's post-integration tests fail, and the rollback cannot change the proxy back
            var run = FaultRun.Execute(options);

            // Then the unwind stopped at the proxy: green, which the proxy still routes to, was neither deregistered nor
            // removed, and the message says what is still in place and how to retry
            run.ExitCode.ShouldNotBe(0);
            ShouldNameStageCauseAndUndo(run, "PostIntegrationTests",
            [
                $"\nRolled back: restored registry key {live.Catalog.ColorKey(live.Service)}; FAILED to undo (kept in the journal, retry with --target=Rollback): restored the proxy config from the registry: ",
                "fault injected: runtime change refused: @1 ",
                $"; the unwind stopped there (restore-proxy failed and the older steps depend on it), so these are still in place: registry key {live.Catalog.ReleaseKey(live.Service, "green")} (not restored), release {live.Service}-green of deploy ",
            ]);
            var (status, served, body) = await live.Harness.GetThroughProxyAsync(live.Route);
            (status, served, body.Trim()).ShouldBe((HttpStatusCode.OK, "green", $"hello from {live.Service} {version} (green)"));
            (await live.JournalAsync()).Count.ShouldBe(3);
        }
        finally
        {
            await ProxySabotage.RemoveAsync(live.Harness);
        }

        // And once the proxy takes changes again, --target=Rollback finishes: production is as before
        var rollback = FaultRun.Execute(options, "Rollback");
        rollback.ExitCode.ShouldBe(0, rollback.Error);
        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Make_The_Proxy_Run_What_Its_File_Says_Before_Undoing_When_A_Reload_Finished_Late()
    {
        // Given a service live in blue on its own proxy, with a template that prints the live colour (so a switch is a
        // reload, not a runtime change), whose first reload from now on comes up unseen (after the deadline)
        var live = await LiveInBlueAsync("haproxy", "partly-applied", "/", o => o with { ProxyTemplate = LiveColourTemplate(o.ServiceDirectory!) }, ownHarness: true);
        var version = NextVersion();
        var options = live.For(live.NextDirectory(version), version);
        var before = await live.SnapshotAsync();
        await ProxySabotage.InstallAsync(live.Harness, ProxySabotage.Mode.HideTheFirstReload);
        try
        {
            // When the next version is deployed: the switch's reload takes effect, but the pipeline never sees it
            var signalledAgain = Pipeline.Proxy.ContainerProxy.ReloadsSignalledAgain;
            var run = FaultRun.Execute(options);

            // Then the switch failed; the previous config was put back and loaded again before anything was undone, so the
            // proxy serves blue and green could be removed
            run.ExitCode.ShouldNotBe(0);
            ShouldNameStageCauseAndUndo(run, "SwitchProxy",
            [
                $"SwitchProxy failed: The haproxy proxy '{live.Harness.ProxyContainer}' did not activate the new config; the previous config was put back and loaded again, so the proxy runs it. ",
                "started no new worker within 20 s of the reload",
                $"\nRolled back: restored registry key {live.Catalog.ColorKey(live.Service)}, the proxy still ran the previous config, deleted registry key {live.Catalog.ReleaseKey(live.Service, "green")}, removed release {live.Service}-green-",
            ]);
            Pipeline.Proxy.ContainerProxy.ReloadsSignalledAgain.ShouldBeGreaterThan(signalledAgain, "the reload that showed no new worker was signalled again, and counted");
        }
        finally
        {
            await ProxySabotage.RemoveAsync(live.Harness);
        }

        await ShouldBeAsBeforeAsync(live, before);
    }

    [Test]
    public async Task Should_Stop_And_Change_Nothing_More_When_The_Deploy_Lock_Is_Lost_Mid_Deploy()
    {
        // Given a service live in blue, and a deploy (A) whose lease would not be renewed for an hour (so only the fence
        // can stop it)
        var live = await LiveInBlueAsync("haproxy", "lost-lock", "/lost/");
        var versionA = NextVersion();
        var versionB = NextVersion();
        var optionsA = live.For(live.NextDirectory(versionA), versionA) with { LockTtl = TimeSpan.FromHours(1) };
        var optionsB = live.For(live.NextDirectory(versionB), versionB);

        // When A's lease is revoked once its pre-integration tests passed (as if it had expired), and another deploy (B)
        // takes the lock, unwinds A's journal and deploys, before A goes on
        long? leaseOfA = null;
        FaultRun? runB = null;
        ProductionSnapshot? afterB = null;
        var runA = FaultRun.Execute(optionsA, onLine: line =>
        {
            if (LeaseOf(line) is { } lease)
            {
                leaseOfA ??= lease;
            }

            if (runB is null && line.Contains("PASS: pre-integration", StringComparison.Ordinal))
            {
                Task.Run(() => live.Registry.RevokeLeaseAsync(leaseOfA!.Value)).GetAwaiter().GetResult();
                runB = FaultRun.Execute(optionsB);
                afterB = Task.Run(live.SnapshotAsync).GetAwaiter().GetResult();
            }
        });

        // Then B deployed; A stopped at its first write after the loss and changed nothing more: B's deploy is intact
        runB.ShouldNotBeNull("A never passed its pre-integration tests");
        runB.ExitCode.ShouldBe(0, runB.Error);
        runA.ExitCode.ShouldNotBe(0);
        var message = runA.Error.ShouldNotBeNull();
        message.ShouldStartWith($"SwitchProxy was stopped: The deploy lock of {live.Service} was lost: ");
        message.ShouldEndWith(
            "\nNothing more was changed: this run lost its deploy lock, so it rolls nothing back. " +
            "Its journal stays for whoever holds the lock next (the next deploy or --target=Rollback unwinds it).");
        runA.Log.ShouldNotContain(l => l.StartsWith("rollback: ", StringComparison.Ordinal));
        afterB.ShouldNotBeNull().Diff(await live.SnapshotAsync()).ShouldBeEmpty();
        (await live.Catalog.GetLiveColorAsync(live.Service)).ShouldBe("green");
        var (status, served, body) = await live.Harness.GetThroughProxyAsync(live.Route);
        (status, served, body.Trim()).ShouldBe((HttpStatusCode.OK, "green", $"hello from {live.Service} {versionB} (green)"));
        (await live.Harness.ReleasesAsync(live.Service)).Select(c => c.Labels[Labels.Version]).ShouldBe([versionB]);
        (await DeploymentLock.ReadHolderAsync(live.Registry, live.Harness.KeyPrefix, live.Service)).ShouldBeNull();
    }

    [Test]
    public async Task Should_Keep_The_Proxy_And_Network_For_Another_Service_When_The_First_Deploy_That_Created_Them_Fails()
    {
        // Given a fresh environment (no proxy, no network) and two services; the first one's post-integration tests fail
        var harness = new PipelineHarness("haproxy");
        _owned.Add(harness);
        var first = TestEnvironment.UniqueName("first");
        var second = TestEnvironment.UniqueName("second");
        var firstOptions = harness.OptionsFor(harness.CreateService(first, TestType.PostIntegration.ToContractName()), "1.0.0", "/first/") with { UndoTimeout = TimeSpan.FromSeconds(30) };
        var secondOptions = harness.OptionsFor(harness.CreateService(second), "1.0.0", "/second/");
        ProductionSnapshot? secondBefore = null;

        // When the second service deploys while the first one's post-integration tests run (after its switch created and
        // configured the proxy), and then the first deploy fails and rolls back
        FaultRun? secondRun = null;
        var firstRun = FaultRun.Execute(firstOptions, onLine: line =>
        {
            if (secondRun is null && line.Contains("failing post-integration on purpose", StringComparison.Ordinal))
            {
                secondRun = FaultRun.Execute(secondOptions);
                secondBefore = Task.Run(() => harness.SnapshotAsync(second)).GetAwaiter().GetResult();
            }
        });

        // Then the rollback kept the proxy and the network the second service uses, as finished steps, and nothing is left
        secondRun.ShouldNotBeNull("the first deploy never ran its post-integration tests").ExitCode.ShouldBe(0, secondRun.Error);
        firstRun.ExitCode.ShouldNotBe(0);
        ShouldNameStageCauseAndUndo(firstRun, "PostIntegrationTests",
        [
            "restored the proxy config from the registry",
            $"kept the proxy container {harness.ProxyContainer}: it serves {second}",
            $"removed release {first}-blue-",
            $"kept network {harness.Network}: in use by ",
        ]);
        firstRun.Error!.ShouldNotContain("FAILED to undo", Case.Sensitive);
        (await harness.Registry.GetPrefixAsync($"{harness.KeyPrefix}/journal/{first}/")).ShouldBeEmpty();
        (await harness.Registry.GetPrefixAsync($"{harness.KeyPrefix}/services/{first}/")).ShouldBeEmpty();
        // (the second service's containers, the proxy container among them, and keys are untouched; the proxy's config
        // lost the first service's route, as it should)
        var secondAfter = await harness.SnapshotAsync(second);
        secondAfter.Containers.ShouldBe(secondBefore.ShouldNotBeNull().Containers);
        secondAfter.RegistryKeys.ShouldBe(secondBefore!.RegistryKeys);
        var (status, served, body) = await harness.GetThroughProxyAsync("/second/");
        (status, served, body.Trim()).ShouldBe((HttpStatusCode.OK, "blue", $"hello from {second} 1.0.0 (blue)"));
        (await harness.GetThroughProxyAsync("/first/")).Status.ShouldNotBe(HttpStatusCode.OK);
    }

    /// <summary>The lease id in AcquireLock's "Took the deploy lock … (lease 1a2b, TTL …)" line.</summary>
    private static long? LeaseOf(string line) =>
        LeaseLine().Match(line) is { Success: true } m ? long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) : null;

    [GeneratedRegex(@"^Took the deploy lock \S+ for deploy .* \(lease ([0-9a-f]+), TTL")]
    private static partial Regex LeaseLine();
}
