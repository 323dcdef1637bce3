using System.Globalization;
using System.Text;
using System.Text.Json;
using Pipeline.Forecasting;
using Pipeline.Metrics;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>
/// The forecast measured on synthetic histories with known answers: 14 days of per-minute request counters per
/// history (daily pattern, weekly pattern, growing trend, one-off spike, gaps, brand-new service) backfilled with
/// promtool into a private Prometheus, read back with the built-in HAProxy query, forecast for 48 hours; then the
/// planner replayed over the daily history's forecast, with and without it. Prints a table, writes
/// artifacts/bench/forecast-*.json and ends with the line <c>bench-forecast: daily_mape=… short_minutes=…</c>.
/// </summary>
internal static class ForecastBench
{
    /// <summary>The proxy container the synthetic counters are labelled with.</summary>
    public const string Container = "synthetic";

    private const int Days = 14;
    private const int Horizon = 48;
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Runs the bench, prints its figures to <paramref name="log"/> and writes them under <paramref name="root"/>/artifacts/bench.</summary>
    public static async Task<ForecastBenchReport> RunAsync(ForecastBenchOptions options, string root, Action<string> log, CancellationToken ct)
    {
        var report = await MeasureAsync(options, log, ct);
        Print(report, log);
        var directory = Path.Combine(root, "artifacts", "bench");
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, $"forecast-{report.Now:yyyyMMdd-HHmmss}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(report, Json), ct);
        log($"Every figure and the replay's scaling timeline: {file}");
        log("bench-forecast: " + string.Join(' ', report.Histories.Where(h => h.HeldOutMape is not null).Select(h => $"{h.Name}_mape={h.HeldOutMape!.Value.ToString("0.00", CultureInfo.InvariantCulture)}"))
            + $" short_minutes={report.Predictive.MinutesShort} reactive_short_minutes={report.Reactive.MinutesShort}");
        return report;
    }

    private static void Print(ForecastBenchReport report, Action<string> log)
    {
        log($"Forecast of {report.HorizonHours} h from {report.HistoryDays} days of history (per-minute counters, ±5 % noise), built-in HAProxy query, to {report.Now:yyyy-MM-dd HH:mm} UTC:");
        log($"{"history",-8} {"held-out MAPE",13} {"48 h error mean / worst",24} {"weekly",7} {"growth/day",11} {"hours with data",16}");
        foreach (var h in report.Histories)
        {
            log(h.Status == "ready"
                ? $"{h.Name,-8} {Percent(h.HeldOutMape),13} {$"{Percent(h.MeanErrorPercent)} / {Percent(h.WorstErrorPercent)}",24} {(h.WeeklySeason == true ? "yes" : "no"),7} {Percent(h.GrowthPerDay * 100),11} {$"{h.ObservedHours}/{h.Hours}",16}"
                : $"{h.Name,-8} {h.Message}");
        }

        log($"Planner replay over the daily history's {report.HorizonHours} h (load = the known function minute by minute, {report.CapacityPerReplica:0.##} req/s per replica, headroom 1.2, start-up {report.StartupSeconds:0} s, stabilisation 300 s):");
        log($"{"",-34} {"predictive",10} {"reactive only",13}");
        log($"{"scale-outs / scale-ins",-34} {$"{report.Predictive.ScaleOuts} / {report.Predictive.ScaleIns}",10} {$"{report.Reactive.ScaleOuts} / {report.Reactive.ScaleIns}",13}");
        log($"{"minutes short of replicas",-34} {report.Predictive.MinutesShort,10} {report.Reactive.MinutesShort,13}");
        log($"{"replica-hours (needed: " + report.Predictive.NeededReplicaHours.ToString("0", CultureInfo.InvariantCulture) + ")",-34} {report.Predictive.ReplicaHours,10:0} {report.Reactive.ReplicaHours,13:0}");
    }

    private static string Percent(double? value) => value is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) + " %" : "-";

    private static async Task<ForecastBenchReport> MeasureAsync(ForecastBenchOptions options, Action<string> log, CancellationToken ct)
    {
        var clock = DateTimeOffset.UtcNow;
        var now = new DateTimeOffset(clock.UtcTicks - (clock.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);
        var hour = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);
        var histories = new[]
        {
            SyntheticTraffic.DailyPattern(),
            SyntheticTraffic.WeeklyPattern(hour),
            SyntheticTraffic.GrowingTrend(hour, Days),
            SyntheticTraffic.OneOffSpike(hour, TimeSpan.FromDays(3.5)),
            SyntheticTraffic.WithGaps(hour, Days),
            SyntheticTraffic.BrandNew(now, 20),
        };

        var metrics = new StringBuilder("# TYPE haproxy_backend_http_requests_total counter\n");
        foreach (var traffic in histories)
        {
            traffic.WriteOpenMetrics(metrics, "haproxy_backend_http_requests_total", $"container=\"{Container}\",proxy=\"{traffic.Name}_0\"", now - TimeSpan.FromDays(Days + 1), now);
        }

        metrics.Append("# EOF\n");
        await using var prometheus = await PrometheusInstance.StartAsync(metrics.ToString(), "global:\n  scrape_interval: 15s\nscrape_configs: []\n", ct);
        log($"Backfilled {histories.Length} histories of {Days} days ({metrics.Length / 1024} KiB of OpenMetrics) in {prometheus.BackfillTime.TotalSeconds:0.0} s into a private Prometheus at {prometheus.Url}.");

        using var client = new PrometheusClient(prometheus.Url);
        var figures = new List<HistoryFigures>();
        RateForecast? daily = null;
        foreach (var traffic in histories)
        {
            var rates = new RequestRates(client, RequestRateQuery.Expand(RequestRateQuery.HaproxyDefault, traffic.Name, Container));
            var history = await rates.HistoryAsync(now, Days, ct);
            var forecast = RateForecaster.Forecast(history, Horizon);
            daily ??= forecast;
            var errors = forecast.Points.Select(p => Math.Abs(p.Rate - traffic.ExpectedHour(p.HourStart)) / traffic.ExpectedHour(p.HourStart)).ToList();
            figures.Add(new HistoryFigures(
                traffic.Name,
                forecast.Status == ForecastStatus.Ready ? "ready" : "too-little-history",
                forecast.HeldOut?.Mape,
                errors.Count == 0 ? null : 100 * errors.Average(),
                errors.Count == 0 ? null : 100 * errors.Max(),
                forecast.Model?.WeeklySeason,
                forecast.Model?.GrowthPerDay,
                history.ObservedHours,
                history.Values.Count,
                forecast.Message));
        }

        var scaling = new ScalingOptions { CapacityPerReplica = options.CapacityPerReplica, Headroom = 1.2, MinReplicas = 1, MaxReplicas = 20, StabilizationWindow = TimeSpan.FromMinutes(5) };
        var traffic0 = histories[0];
        var predictive = PlannerReplay.Run(traffic0, daily!, scaling, options.Startup, hour, hour + TimeSpan.FromHours(Horizon), useForecast: true);
        var reactive = PlannerReplay.Run(traffic0, daily!, scaling, options.Startup, hour, hour + TimeSpan.FromHours(Horizon), useForecast: false);
        return new ForecastBenchReport(now, Days, Horizon, prometheus.BackfillTime.TotalSeconds, figures, scaling.CapacityPerReplica, options.Startup.TotalSeconds, predictive, reactive);
    }
}

/// <summary>The forecast bench's options.</summary>
/// <param name="CapacityPerReplica">Requests per second per replica in the replay.</param>
/// <param name="Startup">A new replica's start-up time in the replay.</param>
internal sealed record ForecastBenchOptions(double CapacityPerReplica, TimeSpan Startup);

/// <summary>What the forecast bench measured.</summary>
internal sealed record ForecastBenchReport(
    DateTimeOffset Now,
    int HistoryDays,
    int HorizonHours,
    double BackfillSeconds,
    IReadOnlyList<HistoryFigures> Histories,
    double CapacityPerReplica,
    double StartupSeconds,
    ReplayFigures Predictive,
    ReplayFigures Reactive);

/// <summary>One synthetic history's figures.</summary>
/// <param name="Name">The history.</param>
/// <param name="Status">ready or too-little-history.</param>
/// <param name="HeldOutMape">MAPE on the held-out day, percent.</param>
/// <param name="MeanErrorPercent">Mean absolute percentage error of the 48 forecast hours against the generating function.</param>
/// <param name="WorstErrorPercent">The worst of those hours.</param>
/// <param name="WeeklySeason">Whether the weekly season was fitted.</param>
/// <param name="GrowthPerDay">The trend found.</param>
/// <param name="ObservedHours">Hours with data.</param>
/// <param name="Hours">Hours asked for.</param>
/// <param name="Message">Why there is no forecast.</param>
internal sealed record HistoryFigures(
    string Name,
    string Status,
    double? HeldOutMape,
    double? MeanErrorPercent,
    double? WorstErrorPercent,
    bool? WeeklySeason,
    double? GrowthPerDay,
    int ObservedHours,
    int Hours,
    string? Message);
