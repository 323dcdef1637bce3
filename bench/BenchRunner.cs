using System.Diagnostics;
using System.Text.Json;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>
/// Measures the pipeline rather than testing it: requests dropped while it deploys and rolls back under load,
/// switch and rollback latency, overhead against a plain docker-CLI script (bench/baseline.sh), a 1,000-route
/// proxy config, and K services deployed at once. Logs a table, writes artifacts/bench/*.json and ends with
/// the line <c>bench: requests=… failed=… switch_p99_ms=… rollback_max_ms=… overhead_ratio=… config1000_ms=…</c>.
/// </summary>
/// <param name="repositoryRoot">The repository (examples/hello, bench/baseline.sh, artifacts/).</param>
/// <param name="log">Receives each line of progress and the report.</param>
/// <param name="time">The clock for the report's start time; the system clock by default.</param>
internal sealed class BenchRunner(string repositoryRoot, Action<string> log, TimeProvider? time = null)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Runs the bench described by <paramref name="options"/>; returns the report, also written as JSON.</summary>
    /// <param name="options">What to measure.</param>
    /// <param name="command">The command line, recorded in the report.</param>
    /// <param name="ct">Stops the bench.</param>
    /// <exception cref="BenchException">A service is missing or a warm-up deploy failed: nothing could be measured.</exception>
    public async Task<BenchReport> RunAsync(BenchOptions options, string command, CancellationToken ct = default)
    {
        var root = repositoryRoot;
        // The local engines, etcd (with the provisioned user when its authentication is on) and image registry.
        var defaults = TestEnvironment.Defaults;
        await CheckServicesAsync(defaults, ct);

        var startedAt = _time.GetUtcNow();
        var wall = Stopwatch.StartNew();
        log($"Bench: {options.Deploys} deploys + {options.Rollbacks} rollbacks per proxy ({string.Join(", ", options.Proxies)}), " +
            $"load {options.Connections} keep-alive + {options.CloseConnections} Connection: close raw-socket clients on 127.0.0.1, " +
            $"{options.Interval.TotalMilliseconds:0} ms between a client's requests, no retries; examples/hello listens " +
            (options.ListenBacklog > 0 ? $"through busybox nc, backlog {options.ListenBacklog}." : "with busybox httpd's own listener, backlog 9."));

        var figures = new List<ProxyFigures>();
        foreach (var kind in options.Proxies)
        {
            figures.Add(await MeasureProxyAsync(kind, options, root, defaults, log, ct));
        }

        var concurrency = options.ConcurrentServices > 0
            ? await MeasureConcurrencyAsync(options.Proxies[0], options.ConcurrentServices, options.ListenBacklog, defaults, log, ct)
            : null;

        var report = new BenchReport
        {
            Command = command.Trim(),
            StartedAt = startedAt,
            WallSeconds = Math.Round(wall.Elapsed.TotalSeconds, 1),
            Machine = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
            LoadClient = "raw sockets (System.Net.Sockets), no retries; keep-alive clients reconnect only after 'Connection: close' or an error",
            DefaultProxy = options.Proxies[0],
            DeploysPerProxy = options.Deploys,
            RollbacksPerProxy = options.Rollbacks,
            KeepAliveConnections = options.Connections,
            CloseConnections = options.CloseConnections,
            RequestIntervalMs = options.Interval.TotalMilliseconds,
            ListenBacklog = options.ListenBacklog,
            Proxies = figures,
            Concurrency = concurrency,
        };

        var directory = Path.Combine(root, "artifacts", "bench");
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, $"bench-{startedAt:yyyyMMdd-HHmmss}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(report, Json), ct);

        log("");
        foreach (var line in report.Table().Split('\n'))
        {
            log(line.TrimEnd());
        }

        foreach (var note in BenchAims.Notes(report))
        {
            log(note);
        }

        log($"JSON: {Path.GetRelativePath(root, file)}");
        log(BenchReport.SummaryLine(figures[0]));
        return report;
    }

    private static async Task<ProxyFigures> MeasureProxyAsync(string kind, BenchOptions options, string root, DeploymentOptions defaults, Action<string> log, CancellationToken ct)
    {
        using var env = new BenchEnvironment(kind, defaults, options.ListenBacklog);
        var problems = new List<string>();
        try
        {
            var service = $"bench{env.Id}";
            var good = env.CreateService(service);
            var failing = env.CreateService(service, "post-integration");
            var baseService = $"bench{env.Id}-base";
            var baseDir = env.CreateService(baseService);
            var signalledAgainBefore = ContainerProxy.ReloadsSignalledAgain;
            log($"[{kind}] bench {env.Id}: proxy {env.Harness.ProxyContainer} on 127.0.0.1:{env.Harness.ProxyPort}, keys {env.Harness.KeyPrefix}/, network {env.Harness.Network}; baseline on 127.0.0.1:{env.BaselinePort}.");
            var artifacts = Path.Combine(root, "artifacts", "bench");
            if (options.CaptureProxyLog)
            {
                env.ProxyTemplate = ProxyLogCapture.WriteTemplate(kind, root, artifacts, env.Id);
            }

            env.HttpsPort = options.HttpsConnections > 0 ? TestEnvironment.FreePort() : null;
            var warmUp = await Task.Run(() => Deploy(env.OptionsFor(good, service, "1.0.0")), ct);
            if (warmUp.ExitCode != 0)
            {
                throw new BenchException($"[{kind}] the warm-up deploy of {service} 1.0.0 failed (exit {warmUp.ExitCode}); nothing to measure.");
            }

            HttpsLoad? https = null;
            if (env.HttpsPort is { } httpsPort)
            {
                // The proxy generated its certificate when it was created: the HTTPS clients trust its CA, nothing else.
                await using var tls = ProxyFactory.Create(env.OptionsFor(good, service, "1.0.0").ToProxyOptions(), env.Harness.Engine);
                var ca = await tls.CertificateAuthorityAsync(ct) ?? throw new BenchException($"[{kind}] the proxy terminates TLS on {httpsPort} but gave no CA.");
                https = new HttpsLoad(httpsPort, ca, options.HttpsConnections - options.HttpsConnections / 2, options.HttpsConnections / 2);
                log($"[{kind}] HTTPS on 127.0.0.1:{httpsPort}: {https.KeepAliveClients} keep-alive + {https.CloseClients} Connection: close clients trusting the proxy's generated CA.");
            }

            if (options.Baseline)
            {
                var baseWarmUp = await BaselineRunner.RunAsync(root, env.BaselineEnvironment(baseDir, baseService, "1.0.0"), ct);
                if (baseWarmUp.ExitCode != 0)
                {
                    throw new BenchException($"[{kind}] the baseline warm-up deploy failed (exit {baseWarmUp.ExitCode}):\n{baseWarmUp.Output}");
                }
            }

            var switchMs = new List<double>();
            var rollbackMs = new List<double>();
            var pipelineS = new List<double>();
            var baselineS = new List<double>();
            var stages = new Dictionary<string, List<double>>();
            int deploysFailed = 0, restored = 0;
            await using var capture = options.CaptureProxyLog
                ? ProxyLogCapture.Start(env.Harness.Engine, env.Harness.ProxyContainer, artifacts, kind, env.Id)
                : null;
            var load = LoadGenerator.Start(env.Harness.ProxyPort, "/", options.Connections, options.CloseConnections, options.Interval, https: https);
            long? routeAddedFailed = null;
            LoadResult result;
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                var plan = BenchOptions.Schedule(options.Deploys, options.Rollbacks);
                for (var i = 0; i < plan.Count; i++)
                {
                    var version = $"1.{i + 1}.0";
                    var from = load.ElapsedSeconds;
                    if (!plan[i])
                    {
                        var run = await Task.Run(() => Deploy(env.OptionsFor(good, service, version)), ct);
                        var line = $"[{kind}] {i + 1}/{plan.Count} deploy {version} (load clock {from:0.0}-{load.ElapsedSeconds:0.0} s): {(run.ExitCode == 0 ? "ok" : $"FAILED (exit {run.ExitCode})")} in {run.Wall.TotalSeconds:0.0} s";
                        AddStages(stages, run.State);
                        if (run.ExitCode == 0)
                        {
                            pipelineS.Add(run.Wall.TotalSeconds);
                            if (run.State?.SwitchLatency is { } latency)
                            {
                                switchMs.Add(latency.TotalMilliseconds);
                                line += $", switch {latency.TotalMilliseconds:0} ms ({string.Join(", ", run.State.SwitchSteps.Select(s => $"{s.Step} {s.Took.TotalMilliseconds:0}"))})";
                            }
                        }
                        else
                        {
                            deploysFailed++;
                            problems.Add($"deploy {version} failed with exit {run.ExitCode}");
                        }

                        if (options.Baseline)
                        {
                            var baseline = await BaselineRunner.RunAsync(root, env.BaselineEnvironment(baseDir, baseService, version), ct);
                            if (baseline.ExitCode == 0)
                            {
                                baselineS.Add(baseline.Wall.TotalSeconds);
                                line += $"; baseline {baseline.Wall.TotalSeconds:0.0} s";
                            }
                            else
                            {
                                problems.Add($"baseline {version} failed with exit {baseline.ExitCode}: {baseline.Output.Trim().Split('\n').LastOrDefault()}");
                                line += $"; baseline FAILED (exit {baseline.ExitCode})";
                            }
                        }

                        log(line);
                    }
                    else
                    {
                        var before = await env.Harness.SnapshotAsync(service, ct);
                        var run = await Task.Run(() => Deploy(env.OptionsFor(failing, service, version)), ct);
                        var diff = (await env.Harness.SnapshotAsync(service, ct)).Diff(before);
                        var ok = run.ExitCode != 0 && diff.Count == 0;
                        restored += ok ? 1 : 0;
                        if (run.State?.RollbackDuration is { } duration)
                        {
                            rollbackMs.Add(duration.TotalMilliseconds);
                        }

                        if (!ok)
                        {
                            problems.Add($"rollback run {version}: exit {run.ExitCode}, snapshot differences: {string.Join("; ", diff)}");
                        }

                        log($"[{kind}] {i + 1}/{plan.Count} failing deploy {version} (load clock {from:0.0}-{load.ElapsedSeconds:0.0} s): {(ok ? "rolled back, snapshot equal" : "NOT RESTORED")}" +
                            $"{(run.State?.RollbackDuration is { } d ? $", rollback {d.TotalMilliseconds:0} ms" : "")}");
                    }
                }

                if (options.RouteAdded)
                {
                    // A new service with its own route while the first one is under load: what did the load lose meanwhile?
                    var added = $"{service}-new";
                    var failedBefore = load.FailedSoFar;
                    var from = load.ElapsedSeconds;
                    var run = await Task.Run(() => Deploy(env.OptionsFor(env.CreateService(added), added, "1.0.0", $"/{added}/")), ct);
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                    routeAddedFailed = load.FailedSoFar - failedBefore;
                    if (run.ExitCode != 0)
                    {
                        problems.Add($"the deploy of {added} (a new route) failed with exit {run.ExitCode}");
                    }

                    log($"[{kind}] new service {added} on /{added}/ (load clock {from:0.0}-{load.ElapsedSeconds:0.0} s): {(run.ExitCode == 0 ? "ok" : $"FAILED (exit {run.ExitCode})")}, {routeAddedFailed} request(s) of the load failed meanwhile.");
                }
            }
            finally
            {
                result = await load.StopAsync();
            }

            log($"[{kind}] load: {result.Requests} requests in {result.Seconds:0} s ({result.Requests / Math.Max(result.Seconds, 1):0}/s), {result.Failed} failed" +
                $" (keep-alive {result.KeepAliveFailed}/{result.KeepAliveRequests}, close {result.CloseFailed}/{result.CloseRequests}, of them HTTPS {result.HttpsFailed}/{result.HttpsRequests}).");
            foreach (var failure in result.FirstFailures.Take(capture is null ? 10 : 50))
            {
                log($"[{kind}]   failed at {failure.AtMs / 1000:0.000} s ({failure.At:HH:mm:ss.fff} UTC, {failure.RequestId}, local port {failure.LocalPort}, {failure.Client}): {failure.Reason}");
                if (capture is not null)
                {
                    var lines = capture.LinesFor(failure.RequestId);
                    log(lines.Count == 0 ? $"[{kind}]     not in the proxy log" : string.Join('\n', lines.Select(l => $"[{kind}]     proxy: {l}")));
                }
            }

            if (capture is not null)
            {
                log($"[{kind}] proxy log: {Path.GetRelativePath(root, capture.LogFile)}; engine events: {Path.GetRelativePath(root, capture.EventsFile)}");
            }

            var config = options.ConfigRoutes > 0 ? await MeasureBigConfigAsync(env, service, options.ConfigRoutes, problems, log, ct) : default;
            log($"[{kind}] proxy reloads by the pipeline signalled a second time (no new worker 5 s after the first signal): {ContainerProxy.ReloadsSignalledAgain - signalledAgainBefore}.");
            var pipelineMedian = Statistics.Median(pipelineS);
            var baselineMedian = Statistics.Median(baselineS);
            return new ProxyFigures
            {
                Proxy = kind,
                Deploys = options.Deploys,
                DeploysFailed = deploysFailed,
                Rollbacks = options.Rollbacks,
                RollbacksRestored = restored,
                Requests = result.Requests,
                Failed = result.Failed,
                KeepAliveRequests = result.KeepAliveRequests,
                KeepAliveFailed = result.KeepAliveFailed,
                CloseRequests = result.CloseRequests,
                CloseFailed = result.CloseFailed,
                HttpsRequests = result.HttpsRequests,
                HttpsFailed = result.HttpsFailed,
                RouteAddedFailed = routeAddedFailed,
                LoadSeconds = Math.Round(result.Seconds, 1),
                SwitchP50Ms = Statistics.Percentile(switchMs, 50),
                SwitchP99Ms = Statistics.Percentile(switchMs, 99),
                RollbackP50Ms = Statistics.Percentile(rollbackMs, 50),
                RollbackMaxMs = Statistics.Max(rollbackMs),
                PipelineDeployMedianS = pipelineMedian,
                BaselineDeployMedianS = baselineMedian,
                OverheadRatio = pipelineMedian is { } p && baselineMedian is { } b && b > 0 ? Math.Round(p / b, 3) : null,
                Config1000Ms = config.Total,
                Config1000RenderMs = config.Render,
                Config1000ValidateMs = config.Validate,
                Config1000ApplyMs = config.Apply,
                StageMedianS = stages.ToDictionary(s => s.Key, s => Math.Round(Statistics.Median(s.Value) ?? 0, 2)),
                SwitchMs = [.. switchMs.Select(Round)],
                RollbackMs = [.. rollbackMs.Select(Round)],
                PipelineDeployS = [.. pipelineS.Select(s => Math.Round(s, 2))],
                BaselineDeployS = [.. baselineS.Select(s => Math.Round(s, 2))],
                FirstFailures = result.FirstFailures,
                Problems = problems,
            };
        }
        finally
        {
            await env.CleanupAsync(log);
        }
    }

    private static async Task<(double? Total, double? Render, double? Validate, double? Apply)> MeasureBigConfigAsync(
        BenchEnvironment env, string service, int count, List<string> problems, Action<string> log, CancellationToken ct)
    {
        // Every upstream is the live release (a bridge address of a container this bench created): nothing else is contacted.
        var catalog = new Pipeline.Registry.ServiceCatalog(env.Harness.Registry, env.Harness.KeyPrefix);
        var live = (await catalog.GetLiveReleasesAsync(ct)).Single(r => r.Service == service);
        var routes = Enumerable.Range(1, count)
            .Select(i => new ProxyRoute($"svc{i:0000}", $"/svc{i:0000}/", null, "blue", "1.0.0", [new UpstreamEndpoint(live.Address, live.Port)]))
            .Append(new ProxyRoute(live.Service, live.Route, live.HostName, live.Color, live.Version, [new UpstreamEndpoint(live.Address, live.Port)]))
            .ToList();
        var clock = Stopwatch.StartNew();
        var config = env.Harness.Proxy.Render(routes);
        var render = clock.Elapsed.TotalMilliseconds;

        // The validator alone, for the breakdown; not counted in the total, since applying validates the candidate
        // itself (a deploy that adds a route validates once, inside the apply).
        clock.Restart();
        await env.Harness.Proxy.ValidateAsync(config, ct);
        var validate = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var signalledAgain = ContainerProxy.ReloadsSignalledAgain;
        await env.Harness.Proxy.ApplyAsync(config, ct);
        var apply = clock.Elapsed.TotalMilliseconds;
        var repeated = ContainerProxy.ReloadsSignalledAgain > signalledAgain ? "; its reload was signalled again: no new worker 5 s after the first signal" : "";
        var total = render + apply;

        // Confirm the last route is served (the proxy adds X-Pipeline-Service per route).
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.GetAsync(new Uri(env.Harness.Proxy.PublicUrl, $"/svc{count:0000}/"), ct);
        var served = response.Headers.TryGetValues("X-Pipeline-Service", out var values) ? values.FirstOrDefault() : null;
        if (served != $"svc{count:0000}")
        {
            problems.Add($"after applying {count} routes, /svc{count:0000}/ was answered by '{served ?? "(no X-Pipeline-Service)"}' with HTTP {(int)response.StatusCode}");
        }

        log($"[{env.ProxyKind}] {count} routes: render {render:0} ms, apply {apply:0} ms (the validator alone took {validate:0} ms), total {total:0} ms ({config.Length / 1024} KiB){repeated}; /svc{count:0000}/ served by {served ?? "nobody"}.");
        return (Round(total), Round(render), Round(validate), Round(apply));
    }

    private static async Task<ConcurrencyFigures> MeasureConcurrencyAsync(string kind, int count, int listenBacklog, DeploymentOptions defaults, Action<string> log, CancellationToken ct)
    {
        using var env = new BenchEnvironment(kind, defaults, listenBacklog);
        var problems = new List<string>();
        try
        {
            // Production already has a proxy and a network: a first service creates them, not timed.
            var first = $"bench{env.Id}-s00";
            if ((await Task.Run(() => Deploy(env.OptionsFor(env.CreateService(first), first, "1.0.0", $"/{first}/")), ct)).ExitCode != 0)
            {
                throw new BenchException($"[{kind}] the first service of the concurrency step could not be deployed.");
            }

            var services = Enumerable.Range(1, count).Select(i => $"bench{env.Id}-s{i:00}").ToList();
            var optionsList = services.Select(s => env.OptionsFor(env.CreateService(s), s, "1.0.0", $"/{s}/")).ToList();
            log($"[{kind}] deploying {count} services at once on one engine …");
            var clock = Stopwatch.StartNew();
            var runs = await Task.WhenAll(optionsList.Select(o => Task.Run(() => Deploy(o), ct)));
            var total = clock.Elapsed.TotalSeconds;

            var failed = 0;
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            for (var i = 0; i < count; i++)
            {
                var service = services[i];
                if (runs[i].ExitCode != 0)
                {
                    failed++;
                    problems.Add($"{service}: deploy exited with {runs[i].ExitCode}");
                    continue;
                }

                using var response = await http.GetAsync(new Uri(env.Harness.Proxy.PublicUrl, $"/{service}/"), ct);
                var served = response.Headers.TryGetValues("X-Pipeline-Service", out var values) ? values.FirstOrDefault() : null;
                if (!response.IsSuccessStatusCode || served != service)
                {
                    failed++;
                    problems.Add($"{service}: deployed, but the proxy answers /{service}/ with HTTP {(int)response.StatusCode} from '{served ?? "no service"}' (its route was lost)");
                }
            }

            log($"[{kind}] {count} concurrent deploys: {total:0.0} s in total, {failed} failed.");
            foreach (var problem in problems)
            {
                log($"[{kind}]   {problem}");
            }

            return new ConcurrencyFigures(kind, count, Math.Round(total, 1), failed, problems);
        }
        finally
        {
            await env.CleanupAsync(log);
        }
    }

    private static async Task CheckServicesAsync(DeploymentOptions defaults, CancellationToken ct)
    {
        try
        {
            using var engine = new DockerEngine(defaults.ProductionEngine);
            await engine.PingAsync(ct);
            if (!await engine.ImageExistsAsync(defaults.ProxyImage, ct))
            {
                throw new BenchException($"The proxy image {defaults.ProxyImage} is missing: run ./build.sh --target=ProvisionLocalServices first.");
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            (await http.GetAsync(new Uri(defaults.RegistryEndpoints[0], "/version"), ct)).EnsureSuccessStatusCode();
            (await http.GetAsync(new Uri($"http://{defaults.ImageRegistry}/v2/"), ct)).EnsureSuccessStatusCode();
        }
        catch (Exception e) when (e is HttpRequestException or DockerEngineException or TaskCanceledException)
        {
            throw new BenchException($"The bench needs dockerd, etcd and the image registry: {e.Message} Run ./build.sh --target=ProvisionLocalServices first.");
        }
    }

    /// <summary>One quiet in-process pipeline run (a deploy unless another target is named).</summary>
    private static PipelineRunResult Deploy(DeploymentOptions options) => PipelineHarness.RunInProcess(options, quiet: true);

    private static double Round(double value) => Math.Round(value, 1);

    private static void AddStages(Dictionary<string, List<double>> stages, DeploymentState? state)
    {
        foreach (var (stage, duration) in state?.StageDurations ?? [])
        {
            if (!stages.TryGetValue(stage, out var list))
            {
                stages[stage] = list = [];
            }

            list.Add(duration.TotalSeconds);
        }
    }
}
