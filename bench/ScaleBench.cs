using System.Diagnostics;
using System.Globalization;
using Pipeline.Forecasting;
using Pipeline.Provisioning;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>The scale bench's options.</summary>
/// <param name="WallPerHour">Wall-clock time one simulated hour takes (the compression).</param>
/// <param name="CapacityPerReplica">Requests per second per replica the planner assumes (a setting, not hello's measured capacity).</param>
/// <param name="MaxReplicas">The most replicas the planner may ask for.</param>
internal sealed record ScaleBenchOptions(TimeSpan WallPerHour, double CapacityPerReplica, int MaxReplicas);

/// <summary>One Scale run during the live day.</summary>
internal sealed record LiveScale(DateTimeOffset SimulatedAt, string Action, int From, int To, double LateSeconds, double TookSeconds, int Exit, int ServingAfter);

/// <summary>
/// The scaling timeline against live load. Simulated: the planner's inputs, a synthetic day of the daily pattern and
/// its forecast from 14 days of that pattern (hourly means straight from <see cref="SyntheticTraffic"/>, no
/// Prometheus), replayed minute by minute by <see cref="PlannerReplay"/> with the start-up time measured on the
/// release's deploy. Real: hello deployed behind HAProxy under its own prefix, network, proxy and port; open-loop
/// requests through the proxy at the synthetic day's rate (compressed: one simulated hour = <c>--hour-seconds</c> of
/// wall-clock, the rate itself not scaled); and at each of the replay's decisions the real <c>--target=Scale
/// --replicas=N</c>, in-process, while the load runs. Prints a table per simulated hour and <c>bench-scale: …</c>.
/// </summary>
internal static class ScaleBench
{
    private const int Hours = 24;

    /// <summary>Runs the bench; prints to <paramref name="log"/>.</summary>
    public static async Task RunAsync(ScaleBenchOptions options, Action<string> log, CancellationToken ct)
    {
        var traffic = SyntheticTraffic.DailyPattern();
        var clock = DateTimeOffset.UtcNow;
        var day = new DateTimeOffset(clock.UtcDateTime.Date, TimeSpan.Zero);
        var forecast = RateForecaster.Forecast(traffic.Hourly(day - TimeSpan.FromDays(14), day), Hours + 2);
        var scaling = new ScalingOptions
        {
            CapacityPerReplica = options.CapacityPerReplica,
            Headroom = 1.2,
            MinReplicas = 1,
            MaxReplicas = options.MaxReplicas,
            StabilizationWindow = TimeSpan.FromMinutes(5),
            ForecastOnly = false,
        };

        using var harness = new PipelineHarness("haproxy", "bench");
        var service = $"scale-{harness.Id}";
        try
        {
            await RunDayAsync(harness, service, traffic, forecast, scaling, day, options, log, ct);
        }
        finally
        {
            // The harness's containers, network, keys and folders first; then the local image tags the deploy built.
            await harness.CleanupAsync(CancellationToken.None);
            await new ProcessCommandRunner().RunAsync("docker", ["rmi", $"{harness.Defaults.ImageRegistry}/{service}:1.0.0", $"{harness.Defaults.ImageRegistry}/{service}/tests:1.0.0"], ct: CancellationToken.None);
        }
    }

    private static async Task RunDayAsync(PipelineHarness harness, string service, SyntheticTraffic traffic, RateForecast forecast, ScalingOptions scaling, DateTimeOffset day, ScaleBenchOptions options, Action<string> log, CancellationToken ct)
    {
        var initial = scaling.ReplicasFor(traffic.Rate(day));
        var deployOptions = harness.OptionsFor(harness.CreateService(service), "1.0.0", service: service) with { Replicas = initial, Scaling = scaling };
        var deploy = PipelineHarness.RunInProcess(deployOptions, quiet: true);
        if (deploy.ExitCode != 0)
        {
            throw new BenchException($"The deploy of {service} with {initial} replica(s) failed; run it alone to see why.");
        }

        var last = (await harness.Catalog.GetHistoryAsync(service, 1, ct)).FirstOrDefault();
        var startup = TimeSpan.FromSeconds(last?.StageSeconds.TryGetValue("DeployRelease", out var s) == true && s > 0 ? s : 60);
        var replay = PlannerReplay.Run(traffic, forecast, scaling, startup, day, day + TimeSpan.FromHours(Hours), useForecast: true);
        var hourWall = options.WallPerHour.TotalSeconds;
        DateTimeOffset Simulated(double wall) => day + TimeSpan.FromHours(wall / hourWall);
        double Wall(DateTimeOffset simulated) => (simulated - day).TotalHours * hourWall;
        log(string.Create(CultureInfo.InvariantCulture, $"Deployed {service} with {initial} replica(s) in {deploy.Wall.TotalSeconds:0.0} s (start-up measured: DeployRelease {startup.TotalSeconds:0.0} s). Replay: {replay.Timeline.Count} decisions, {replay.MinutesShort} minutes short. Live day: 1 simulated hour = {hourWall:0.##} s wall ({3600 / hourWall:0}x)."));

        var serving = new int[Hours];
        var running = new int[Hours];
        var scales = new List<LiveScale>();
        await using var load = new PacedLoad(harness.ProxyUrl, wall => traffic.Rate(Simulated(wall)), wall => (int)Math.Floor(wall / hourWall), Hours);
        load.Start();
        var scaler = Task.Run(
            async () =>
            {
                foreach (var step in replay.Timeline)
                {
                    var dueIn = Wall(step.Time) - load.Seconds;
                    if (dueIn > 0)
                    {
                        await Task.Delay(TimeSpan.FromSeconds(dueIn), ct);
                    }

                    var late = Math.Max(0, -dueIn);
                    var started = Stopwatch.GetTimestamp();
                    var exit = PipelineHarness.RunInProcess(deployOptions with { Replicas = step.To }, "Scale", quiet: true).ExitCode;
                    var took = Stopwatch.GetElapsedTime(started).TotalSeconds;
                    var after = await ServingAsync(harness, service, ct);
                    lock (scales)
                    {
                        scales.Add(new LiveScale(step.Time, step.Action, step.From, step.To, late, took, exit, after.Serving));
                    }
                }
            },
            ct);

        for (var hour = 0; hour < Hours; hour++)
        {
            var wait = ((hour + 1) * hourWall) - load.Seconds;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait), ct);
            }

            (serving[hour], running[hour]) = await ServingAsync(harness, service, ct);
        }

        await load.StopAsync();
        await scaler;

        log($"Scaling timeline against live load (HAProxy, hello; replay of the daily pattern; {scaling.CapacityPerReplica:0.##} req/s per replica, headroom 1.2, min 1, max {scaling.MaxReplicas}; rates in req/s; p99 in ms):");
        log($"{"sim.",5} {"target",6} {"achieved",8} {"needed",6} {"serving",7} {"running",7} {"sent",5} {"failed",6} {"p99",6}  scale actions started in the hour (wall s late, s until the new count served)");
        for (var hour = 0; hour < Hours; hour++)
        {
            var from = day + TimeSpan.FromHours(hour);
            var counts = load.Steps[hour];
            var target = traffic.ExpectedHour(from);
            var needed = Enumerable.Range(0, 60).Max(m => scaling.ReplicasFor(traffic.Rate(from + TimeSpan.FromMinutes(m))));
            var actions = scales.Where(a => a.SimulatedAt >= from && a.SimulatedAt < from + TimeSpan.FromHours(1))
                .Select(a => string.Create(CultureInfo.InvariantCulture, $"{a.SimulatedAt:HH:mm} {a.From}->{a.To} ({a.LateSeconds:0.0} late, {a.TookSeconds:0.0} s{(a.Exit == 0 ? "" : $", exit {a.Exit}")}, {a.ServingAfter} serving)"));
            var p99 = Statistics.Percentile(counts.LatenciesMs, 99);
            log(string.Create(CultureInfo.InvariantCulture, $"{from:HH:mm} {target,6:0.0} {counts.Answered / hourWall,8:0.0} {needed,6} {serving[hour],7} {running[hour],7} {counts.Sent,5} {counts.Failed,6} {p99,6:0} {string.Join("; ", actions)}{(counts.Skipped > 0 ? $" skipped {counts.Skipped}" : "")}{(counts.Reasons.Count > 0 ? $" [{string.Join("; ", counts.Reasons.Distinct())}]" : "")}"));
        }

        var sent = load.Steps.Sum(c => c.Sent);
        var failed = load.Steps.Sum(c => c.Failed);
        var took = scales.Where(a => a.Exit == 0).Select(a => a.TookSeconds).ToList();
        var outs = scales.Count(a => a.Action == nameof(ScalingAction.ScaleOut));
        var ins = scales.Count(a => a.Action == nameof(ScalingAction.ScaleIn));
        var p99All = Statistics.Percentile(load.Steps.SelectMany(c => c.LatenciesMs), 99);
        log(string.Create(CultureInfo.InvariantCulture, $"bench-scale: hour_s={hourWall:0.##} startup_s={startup.TotalSeconds:0.0} requests={sent} failed={failed} p99_ms={p99All:0} scale_outs={outs} scale_ins={ins} scale_failed={scales.Count(a => a.Exit != 0)} scale_s_p50={Statistics.Median(took):0.0} scale_s_max={Statistics.Max(took):0.0} replay_short_minutes={replay.MinutesShort} live_short_hours={Enumerable.Range(0, Hours).Count(h => serving[h] < scaling.ReplicasFor(traffic.Rate(day + TimeSpan.FromHours(h + 1))))}"));
    }

    /// <summary>The live release's endpoints in the registry (what the proxy routes to) and its running containers.</summary>
    private static async Task<(int Serving, int Running)> ServingAsync(PipelineHarness harness, string service, CancellationToken ct)
    {
        var color = await harness.Catalog.GetLiveColorAsync(service, ct);
        var record = color is null ? null : await harness.Catalog.GetReleaseAsync(service, color, ct);
        var running = (await harness.ReleasesAsync(service)).Count(c => c.IsRunning);
        return (record?.AllEndpoints.Count ?? 0, running);
    }
}
