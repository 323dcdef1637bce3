using System.Diagnostics;
using System.Globalization;
using System.Net;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Provisioning.Swarm;
using Pipeline.Runtime;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>
/// <c>./build.sh --target=Bench --orchestrator=swarm</c>: the same deploys of examples/hello under load through HAProxy,
/// once onto the single local engine (containers) and once onto the 3-node test swarm over TLS (services, proxy on the
/// manager), then a worker running a task of the live release killed under load. Reports requests sent and failed
/// during the deploys and the kill, deploy times on both, and how long the swarm took to run every replica again.
/// The swarm is provisioned when missing (and torn down after only then); the killed node is started again.
/// </summary>
/// <param name="log">Receives each line of progress and the report.</param>
internal sealed class SwarmBench(Action<string> log)
{
    private static readonly TimeSpan RecoveryPatience = TimeSpan.FromSeconds(120);

    /// <summary>Runs it: <paramref name="deploys"/> deploys on each runtime, then the node kill.</summary>
    /// <exception cref="BenchException">A warm-up deploy failed: nothing could be measured.</exception>
    public async Task RunAsync(BenchOptions options, CancellationToken ct = default)
    {
        var swarmOptions = new LocalSwarmOptions();
        using var cd = new DockerEngine(TestEnvironment.Docker);
        var swarm = LocalSwarm.ForThisMachine(cd, log);
        var madeHere = !File.Exists(swarmOptions.Node(1).PidFile);
        await swarm.EnsureAsync(swarmOptions, ct);
        var manager = swarmOptions.Node(1).Address;
        log($"Bench (swarm): {options.Deploys} deploys per runtime under load ({options.Connections} keep-alive + {options.CloseConnections} Connection: close clients, {options.Interval.TotalMilliseconds:0} ms apart, no retries), HAProxy; then a worker killed.");
        try
        {
            var swarmDefaults = TestEnvironment.Defaults with
            {
                ProductionEngine = LocalSwarm.ManagerEndpoint(swarmOptions),
                ImageRegistry = swarmOptions.Registry,
                ProxyImage = swarmOptions.ProxyImage,
                ProbeImage = swarmOptions.ProbeImage,
                Orchestrator = OrchestratorKind.Swarm,
            };
            using var single = new PipelineHarness("haproxy", "bench");
            using var onSwarm = new PipelineHarness("haproxy", "bench", swarmDefaults, manager.ToString());
            var singleFigures = await DeploysAsync("containers", single, IPAddress.Loopback, options, ct);
            var swarmFigures = await DeploysAsync("swarm", onSwarm, manager, options, ct);
            var kill = await KillAWorkerAsync(swarm, swarmOptions, onSwarm, swarmFigures.Service, options, ct);

            log("");
            log($"{"runtime",-11} {"deploys",8} {"ok",4} {"deploy s (median)",18} {"deploy s (max)",15} {"requests",9} {"failed",7}");
            foreach (var f in new[] { singleFigures, swarmFigures })
            {
                log($"{f.Runtime,-11} {f.Deploys,8} {f.Succeeded,4} {Median(f.Seconds),18:0.0} {f.Seconds.DefaultIfEmpty().Max(),15:0.0} {f.Load.Requests,9} {f.Load.Failed,7}");
            }

            log($"worker {kill.Worker} killed (SIGKILL, its dockerd and everything in its namespace): {kill.Load.Requests} requests, {kill.Load.Failed} failed; " +
                (kill.RecoveredSeconds is { } s ? $"both replicas running off it {s:0.0} s after the kill." : $"the replicas were not all running again within {RecoveryPatience.TotalSeconds:0} s."));
            log(string.Create(CultureInfo.InvariantCulture,
                $"bench-swarm: deploy_s_single={Median(singleFigures.Seconds):0.0} deploy_s_swarm={Median(swarmFigures.Seconds):0.0} requests_deploys={swarmFigures.Load.Requests} failed_deploys={swarmFigures.Load.Failed} requests_kill={kill.Load.Requests} failed_kill={kill.Load.Failed} recovery_s={kill.RecoveredSeconds?.ToString("0.0", CultureInfo.InvariantCulture) ?? "none"}"));
        }
        finally
        {
            await swarm.EnsureAsync(swarmOptions, CancellationToken.None);
            if (madeHere)
            {
                await swarm.TeardownAsync(swarmOptions, CancellationToken.None);
            }
        }
    }

    private async Task<RuntimeFigures> DeploysAsync(string runtime, PipelineHarness harness, IPAddress proxyAddress, BenchOptions options, CancellationToken ct)
    {
        var service = $"bench{harness.Id}";
        var directory = harness.CreateService(service);
        var warmUp = await Task.Run(() => PipelineHarness.RunInProcess(harness.OptionsFor(directory, "1.0.0", service: service), quiet: true), ct);
        if (warmUp.ExitCode != 0)
        {
            throw new BenchException($"[{runtime}] the warm-up deploy of {service} 1.0.0 failed (exit {warmUp.ExitCode}); nothing to measure.");
        }

        var seconds = new List<double>();
        var load = LoadGenerator.Start(harness.ProxyPort, "/", options.Connections, options.CloseConnections, options.Interval, address: proxyAddress);
        for (var i = 1; i <= options.Deploys; i++)
        {
            var version = $"1.{i}.0";
            var run = await Task.Run(() => PipelineHarness.RunInProcess(harness.OptionsFor(directory, version, service: service), quiet: true), ct);
            log($"[{runtime}] deploy {i}/{options.Deploys} {version}: {(run.ExitCode == 0 ? "ok" : $"FAILED (exit {run.ExitCode})")} in {run.Wall.TotalSeconds:0.0} s");
            if (run.ExitCode == 0)
            {
                seconds.Add(run.Wall.TotalSeconds);
            }
        }

        var result = await load.StopAsync();
        log($"[{runtime}] load during the deploys: {result.Requests} requests, {result.Failed} failed{(result.FirstFailures.Count == 0 ? "" : $" (first: {string.Join("; ", result.FirstFailures.Take(3))})")}");
        return new RuntimeFigures(runtime, service, options.Deploys, seconds.Count, seconds, result);
    }

    private async Task<KillFigures> KillAWorkerAsync(LocalSwarm swarm, LocalSwarmOptions swarmOptions, PipelineHarness harness, string service, BenchOptions options, CancellationToken ct)
    {
        var release = (await harness.Runtime.ListAsync(service, ct)).Single().Id;
        var endpoints = (await harness.Runtime.AddressesAsync(release, 8080, ct))?.Endpoints ?? [];
        var worker = swarmOptions.AllNodes.Skip(1).First(n => endpoints.Any(e => e.Node == n.HostName));
        var load = LoadGenerator.Start(harness.ProxyPort, "/", options.Connections, options.CloseConnections, options.Interval, address: swarmOptions.Node(1).Address);
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        var watch = Stopwatch.StartNew();
        await swarm.KillNodeAsync(swarmOptions, worker.Number, ct);
        double? recovered = null;
        while (watch.Elapsed < RecoveryPatience)
        {
            var running = (await harness.Runtime.AddressesAsync(release, 8080, ct))?.Endpoints ?? [];
            if (running.Count == endpoints.Count && running.All(e => e.Node != worker.HostName))
            {
                recovered = watch.Elapsed.TotalSeconds;
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }

        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        var result = await load.StopAsync();
        return new KillFigures(worker.HostName, result, recovered);
    }

    private static double Median(IReadOnlyList<double> values) => Statistics.Median(values) ?? 0;

    private sealed record RuntimeFigures(string Runtime, string Service, int Deploys, int Succeeded, IReadOnlyList<double> Seconds, LoadResult Load);

    private sealed record KillFigures(string Worker, LoadResult Load, double? RecoveredSeconds);
}
