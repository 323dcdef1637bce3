using System.Diagnostics;
using System.Globalization;
using Pipeline.Configuration;
using Pipeline.Healing;
using Pipeline.Provisioning;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>What one kill cost: the time from the kill to the end of the Heal pass that put a healthy replacement behind the proxy, and the requests that failed meanwhile.</summary>
/// <param name="Replicas">The replicas the release runs.</param>
/// <param name="HealSeconds">Kill returned → Heal pass done (replacement healthy, registered, proxy applied).</param>
/// <param name="Sent">Requests through the proxy from just before the kill to 1 s after the end of the pass.</param>
/// <param name="Failed">Of those, the ones that failed.</param>
/// <param name="LongestRequestSeconds">The longest any of those requests took (a request the proxy held until a replica answered).</param>
public sealed record KillSample(int Replicas, double HealSeconds, int Sent, int Failed, double LongestRequestSeconds);

/// <summary>
/// Healing measured on the real engine, etcd and HAProxy: hello deployed with 2 replicas (then 1) under its own prefix,
/// network, proxy and port; steady requests through the proxy (one at a time, fresh connection, 20 ms apart); then,
/// <c>--kills</c> times, a replica killed with SIGKILL (<c>docker kill</c>) and one Heal pass run at once. Prints p50/max
/// of kill → healthy replacement serving and the failed requests, and the line <c>bench-heal: …</c>.
/// </summary>
internal static class HealBench
{
    /// <summary>Runs the bench; prints to <paramref name="log"/>.</summary>
    public static async Task<IReadOnlyList<KillSample>> RunAsync(int kills, Action<string> log, CancellationToken ct)
    {
        var samples = new List<KillSample>();
        foreach (var replicas in new[] { 2, 1 })
        {
            samples.AddRange(await MeasureAsync(replicas, kills, log, ct));
        }

        log($"Heal after a replica is killed (SIGKILL), one pass started at once; HAProxy; {kills} kills per row:");
        log($"{"replicas",8} {"kill -> healthy replacement serving p50 / max s",48} {"requests sent / failed",24} {"longest request s",18}");
        foreach (var group in samples.GroupBy(s => s.Replicas))
        {
            var seconds = group.Select(s => s.HealSeconds).ToList();
            log($"{group.Key,8} {$"{Statistics.Median(seconds):0.00} / {Statistics.Max(seconds):0.00}",48} {$"{group.Sum(s => s.Sent)} / {group.Sum(s => s.Failed)}",24} {group.Max(s => s.LongestRequestSeconds),18:0.00}");
        }

        string Figures(int replicas)
        {
            var group = samples.Where(s => s.Replicas == replicas).ToList();
            var seconds = group.Select(s => s.HealSeconds).ToList();
            return string.Create(CultureInfo.InvariantCulture, $"r{replicas}_p50_s={Statistics.Median(seconds):0.00} r{replicas}_max_s={Statistics.Max(seconds):0.00} r{replicas}_failed={group.Sum(s => s.Failed)}/{group.Sum(s => s.Sent)} r{replicas}_longest_request_s={group.Max(s => s.LongestRequestSeconds):0.00}");
        }

        log($"bench-heal: {Figures(2)} {Figures(1)}");
        return samples;
    }

    private static async Task<IReadOnlyList<KillSample>> MeasureAsync(int replicas, int kills, Action<string> log, CancellationToken ct)
    {
        using var harness = new PipelineHarness("haproxy", "bench");
        var service = $"heal{replicas}-{harness.Id}";
        var options = harness.OptionsFor(harness.CreateService(service), "1.0.0", service: service) with
        {
            Replicas = replicas,
            Healing = new HealingOptions { Backoff = TimeSpan.Zero, MaxReplacements = 1000 },
        };
        if (PipelineHarness.RunInProcess(options, quiet: true).ExitCode != 0)
        {
            throw new BenchException($"The deploy of {service} with {replicas} replica(s) failed; run it alone to see why.");
        }

        var samples = new List<KillSample>();
        var load = ProxyLoad.Start(harness.ProxyUrl);
        try
        {
            for (var kill = 0; kill < kills; kill++)
            {
                var victim = (await harness.ReleasesAsync(service)).Where(c => c.IsRunning).OrderBy(c => c.Name).Last();
                var (sentBefore, failedBefore) = (load.Answered + load.Failures.Count, load.Failures.Count);
                load.TakeLongest();
                var result = await new ProcessCommandRunner().RunAsync("docker", ["kill", victim.Name], ct: ct);
                if (!result.Succeeded)
                {
                    throw new BenchException($"docker kill {victim.Name} failed: {result.Output}");
                }

                var killed = Stopwatch.GetTimestamp();
                var exit = PipelineHarness.RunInProcess(options, "Heal", quiet: true).ExitCode;
                var seconds = Stopwatch.GetElapsedTime(killed).TotalSeconds;
                if (exit != 0)
                {
                    throw new BenchException($"The Heal pass after killing {victim.Name} failed (exit {exit}); run --target=Heal alone to see why.");
                }

                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                var sample = new KillSample(replicas, seconds, load.Answered + load.Failures.Count - sentBefore, load.Failures.Count - failedBefore, load.TakeLongest().TotalSeconds);
                samples.Add(sample);
                log(string.Create(CultureInfo.InvariantCulture, $"  {replicas} replica(s), kill {kill + 1}: {victim.Name} replaced after {seconds:0.00} s; {sample.Sent} requests (to 1 s after), {sample.Failed} failed{(sample.Failed > 0 ? $" ({string.Join("; ", load.Failures.Skip(failedBefore).Distinct())})" : "")}, longest {sample.LongestRequestSeconds:0.00} s"));
            }
        }
        finally
        {
            await load.DisposeAsync();
        }

        return samples;
    }
}
