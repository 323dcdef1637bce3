using System.Globalization;
using System.Text.Json;
using Build.Bench;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>
/// Measures the forecast on synthetic histories with known answers (see <see cref="ForecastBench"/>): per history the
/// MAPE on the held-out day and the 48-hour forecast's error against the generating function; then the planner
/// replayed over the daily history's 48 hours, predictive against reactive only. Needs only the prometheus package
/// (its own Prometheus on a free loopback port, removed at the end). Prints a table, writes
/// artifacts/bench/forecast-*.json and ends with the line <c>bench-forecast: daily_mape=… … short_minutes=…</c>.
/// Options: --replay-capacity=10 (req/s per replica) --replay-startup=60 (seconds).
/// </summary>
[TaskName("BenchForecast")]
[TaskDescription("Benchmarks the forecast on synthetic histories in a private Prometheus (MAPE per history) and replays the scaling planner over one.")]
public sealed class BenchForecast : AsyncFrostingTask<DeploymentContext>
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        void Log(string line) => context.Log.Information("{0}", line);
        var capacity = Number(context, "replay-capacity", 10);
        var startup = Number(context, "replay-startup", 60);
        var report = await ForecastBench.RunAsync(new ForecastBenchOptions(capacity, TimeSpan.FromSeconds(startup)), Log, context.CancellationToken);

        Log($"Forecast of {report.HorizonHours} h from {report.HistoryDays} days of history (per-minute counters, ±5 % noise), built-in HAProxy query, to {report.Now:yyyy-MM-dd HH:mm} UTC:");
        Log($"{"history",-8} {"held-out MAPE",13} {"48 h error mean / worst",24} {"weekly",7} {"growth/day",11} {"hours with data",16}");
        foreach (var h in report.Histories)
        {
            Log(h.Status == "ready"
                ? $"{h.Name,-8} {Percent(h.HeldOutMape),13} {$"{Percent(h.MeanErrorPercent)} / {Percent(h.WorstErrorPercent)}",24} {(h.WeeklySeason == true ? "yes" : "no"),7} {Percent(h.GrowthPerDay * 100),11} {$"{h.ObservedHours}/{h.Hours}",16}"
                : $"{h.Name,-8} {h.Message}");
        }

        Log($"Planner replay over the daily history's {report.HorizonHours} h (load = the known function minute by minute, {report.CapacityPerReplica:0.##} req/s per replica, headroom 1.2, start-up {report.StartupSeconds:0} s, stabilisation 300 s):");
        Log($"{"",-34} {"predictive",10} {"reactive only",13}");
        Log($"{"scale-outs / scale-ins",-34} {$"{report.Predictive.ScaleOuts} / {report.Predictive.ScaleIns}",10} {$"{report.Reactive.ScaleOuts} / {report.Reactive.ScaleIns}",13}");
        Log($"{"minutes short of replicas",-34} {report.Predictive.MinutesShort,10} {report.Reactive.MinutesShort,13}");
        Log($"{"replica-hours (needed: " + report.Predictive.NeededReplicaHours.ToString("0", CultureInfo.InvariantCulture) + ")",-34} {report.Predictive.ReplicaHours,10:0} {report.Reactive.ReplicaHours,13:0}");

        var directory = Path.Combine(context.Environment.WorkingDirectory.FullPath, "artifacts", "bench");
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, $"forecast-{report.Now:yyyyMMdd-HHmmss}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(report, Json), context.CancellationToken);
        Log($"Every figure and the replay's scaling timeline: {file}");
        Log("bench-forecast: " + string.Join(' ', report.Histories.Where(h => h.HeldOutMape is not null).Select(h => $"{h.Name}_mape={h.HeldOutMape!.Value.ToString("0.00", CultureInfo.InvariantCulture)}"))
            + $" short_minutes={report.Predictive.MinutesShort} reactive_short_minutes={report.Reactive.MinutesShort}");
    }

    private static double Number(ICakeContext context, string name, double fallback)
    {
        if (!context.Arguments.HasArgument(name))
        {
            return fallback;
        }

        var text = context.Arguments.GetArgument(name);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && double.IsFinite(value)
            ? value
            : throw new CakeException(1, $"--{name}={text}: must be a positive number; e.g. --{name}={fallback.ToString(CultureInfo.InvariantCulture)}");
    }

    private static string Percent(double? value) => value is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) + " %" : "-";
}
