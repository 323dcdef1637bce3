using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Pipeline.IntegrationTests.Recovery;
using Pipeline.Locking;

namespace Pipeline.IntegrationTests.Concurrency;

/// <summary>
/// Two deploys of one service started at the same moment, as two processes of the repo's build program. Half the
/// races fail fast (<c>--lock-timeout=0</c>: the loser names the holder and changes nothing), half wait (both
/// succeed, one after the other). After every race the lock holds were disjoint (so the two never switched at
/// once), the registry's colour is what the proxy serves, the history is a chain, one release container is left.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed partial class ConcurrentDeployTests
{
    private const string Version = "1.0.0"; // constant: after the first race every image build hits the cache
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(180);
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public void RemoveHarness() => _harness.Dispose();

    [Test]
    public Task Should_Deploy_One_At_A_Time_When_Two_Deploys_Start_Together() => RaceAsync(2);

    [Test]
    [Explicit("20 races take a few minutes; the two-race sibling runs by default")]
    public Task Should_Deploy_One_At_A_Time_When_Two_Deploys_Start_Together_Twenty_Times() => RaceAsync(20);

    private async Task RaceAsync(int races)
    {
        // Given a service (deployed by the first race itself)
        var service = TestEnvironment.UniqueName("race");
        var dir = _harness.CreateService(service);
        var wall = Stopwatch.StartNew();
        var contended = 0;
        var committed = 0;

        for (var race = 0; race < races; race++)
        {
            var failFast = race % 2 == 0;
            var colorBefore = await _harness.Catalog.GetLiveColorAsync(service);

            // When two deploys start together
            var arguments = PipelineProcess.IsolatedArguments(_harness, dir).Append($"--lock-timeout={(failFast ? 0 : 120)}").ToList();
            var clock = Stopwatch.StartNew();
            using var a = PipelineProcess.Start("Deploy", Version, arguments, clock);
            using var b = PipelineProcess.Start("Deploy", Version, arguments, clock);
            var exits = await Task.WhenAll(a.WaitForExitAsync(RunTimeout), b.WaitForExitAsync(RunTimeout));
            var runs = new[] { (Run: a, Exit: exits[0]), (Run: b, Exit: exits[1]) };
            var context = $"race {race + 1} ({(failFast ? "fail fast" : "waiting")})\n--- A ---\n{a.Output}\n--- B ---\n{b.Output}";

            // Then the two held the lock one after the other, each switching only while holding it
            var holds = runs.Where(r => r.Exit == 0).Select(r => Hold(r.Run, context)).OrderBy(h => h.Taken).ToList();
            for (var i = 1; i < holds.Count; i++)
            {
                holds[i].Taken.ShouldBeGreaterThan(holds[i - 1].Released, context);
            }

            var losers = runs.Where(r => r.Exit != 0).ToList();
            if (failFast)
            {
                // ... and when one could not have the lock at once, it failed naming the holder, having changed nothing
                losers.Count.ShouldBeLessThanOrEqualTo(1, context);
                foreach (var (loser, _) in losers)
                {
                    var winner = holds.ShouldHaveSingleItem(context);
                    loser.Output.ShouldContain($"{service} is being deployed by {Environment.UserName}@{Environment.MachineName} pid {winner.Pid} (deploy {winner.DeployId}, started ", Case.Sensitive, customMessage: context);
                    loser.Output.ShouldContain("; waited 0 s. Retry later, or if that process is dead the lock expires within 3 s.", Case.Sensitive, customMessage: context);
                    loser.Output.ShouldContain("Nothing in production was changed", Case.Sensitive, customMessage: context);
                    loser.Lines.ShouldNotContain(l => l.Contains(CrashRecoveryTests.LockTaken), context);
                }

                contended += losers.Count;
            }
            else
            {
                losers.ShouldBeEmpty(context);
                var second = runs.Single(r => Hold(r.Run, context).Taken == holds[^1].Taken).Run;
                if (second.Output.Contains($"waiting up to 120 s for its lock", StringComparison.Ordinal))
                {
                    second.Output.ShouldContain($"(deploy {holds[0].DeployId}, started ", Case.Sensitive, customMessage: context);
                    contended++;
                }
            }

            // ... and production is consistent: one switch per committed deploy, registry == proxy, a history chain, one container
            committed += holds.Count;
            var history = (await _harness.Catalog.GetHistoryAsync(service, 100)).Reverse().ToList(); // oldest first
            history.Count.ShouldBe(committed, context);
            history.TakeLast(holds.Count).Select(h => h.DeployId).ShouldBe(holds.Select(h => h.DeployId), context);
            history[0].PreviousColor.ShouldBeNull(context);
            for (var i = 1; i < history.Count; i++)
            {
                history[i].PreviousColor.ShouldBe(history[i - 1].Color, context);
                history[i].Color.ShouldNotBe(history[i - 1].Color, context);
            }

            var live = await _harness.Catalog.GetLiveColorAsync(service);
            live.ShouldBe(history[^1].Color, context);
            live.ShouldBe(holds.Count % 2 == 0 ? colorBefore : Colors.Next(colorBefore), context);
            (await _harness.GetThroughProxyAsync()).Color.ShouldBe(live, context);
            var release = (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem(context);
            release.Labels[Labels.Color].ShouldBe(live);
            release.Labels[Labels.DeployId].ShouldBe(holds[^1].DeployId);
            (await _harness.SnapshotAsync(service)).RegistryKeys.Keys.ShouldNotContain(k => k.Contains("/journal/"), context);
            (await DeploymentLock.ReadHolderAsync(_harness.Registry, _harness.KeyPrefix, service)).ShouldBeNull(context);
            foreach (var (run, _) in runs.Where(r => r.Exit == 0))
            {
                var summary = run.Lines.SkipWhile(l => !l.Contains("Deployed ", StringComparison.Ordinal)).Take(12);
                TestContext.Progress.WriteLine(string.Join(" |", summary.Select(l => Regex.Replace(l.Trim(), @"\s+", " "))));
            }

            TestContext.Progress.WriteLine(
                $"race {race + 1}/{races} ({(failFast ? "fail fast" : "waiting")}): exits {exits[0]}/{exits[1]}, {holds.Count} committed, live {live}, {clock.Elapsed.TotalSeconds:0.0} s");
        }

        TestContext.Progress.WriteLine($"{races} races, {contended} contended, {committed} deploys committed, wall time {wall.Elapsed.TotalSeconds:0.0} s");
        contended.ShouldBeGreaterThan(0, "no race ever contended for the lock: the test did not test anything");
    }

    private static (DateTime Taken, DateTime Released, string DeployId, int Pid) Hold(PipelineProcess run, string context)
    {
        var lines = run.Lines.ToList();
        var taken = lines.FindIndex(l => l.Contains(CrashRecoveryTests.LockTaken, StringComparison.Ordinal));
        var switched = lines.FindIndex(l => l.Contains(CrashRecoveryTests.ProxySwitched, StringComparison.Ordinal));
        var released = lines.FindIndex(l => l.Contains("Released the deploy lock", StringComparison.Ordinal));
        taken.ShouldBeGreaterThanOrEqualTo(0, context);
        switched.ShouldBeInRange(taken, released, context);
        var took = LockLine().Match(lines[taken]);
        var gave = LockLine().Match(lines[released]);
        took.Success.ShouldBeTrue(lines[taken]);
        gave.Success.ShouldBeTrue(lines[released]);
        gave.Groups["id"].Value.ShouldBe(took.Groups["id"].Value);
        return (Parse(took), Parse(gave), took.Groups["id"].Value, run.Id);

        static DateTime Parse(Match m) =>
            DateTime.Parse(m.Groups["at"].Value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
    }

    [GeneratedRegex(@"deploy lock \S+ (?:for|of) deploy (?<id>\S+) at (?<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")]
    private static partial Regex LockLine();
}
