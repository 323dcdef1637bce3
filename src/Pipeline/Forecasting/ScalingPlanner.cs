using System.Globalization;
using Pipeline.Metrics;

namespace Pipeline.Forecasting;

/// <summary>
/// Decides how many replicas a live release should run, from the forecast and the load observed now. Pure: the
/// caller brings the forecast, the observed rates, the start-up time and the clock; nothing is changed here.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Out, ahead of the forecast.</b> A replica started now serves after the release's start-up time, so the
/// replicas needed are those of the highest forecast rate from now to now + start-up time (the hourly means read as a
/// curve through the middle of each hour), and of the load observed now (the forecast may be low). More than run now:
/// scale out.</item>
/// <item><b>In, only on what was observed.</b> Fewer replicas only when every observed rate of the stabilisation
/// window needs fewer, the observations cover the whole window, and the forecast until the start-up time has passed
/// needs fewer too. The forecast alone never scales in: a spike in the history that made the forecast low, or a
/// forecast that is simply wrong, cannot take capacity away.</item>
/// <item><b>Too little history</b> (a new service): no forecast, so nothing is scaled either way; it says so.</item>
/// <item><b>Bounds.</b> Below the minimum scales out to it and above the maximum scales in to it, whatever the load.</item>
/// </list>
/// </remarks>
public static class ScalingPlanner
{
    /// <summary>Decides. The decision says whether it may act (<see cref="ScalingOptions.ForecastOnly"/> off) or only report.</summary>
    /// <exception cref="ArgumentException">The options are invalid (see <see cref="ScalingOptions.Problems"/>), or the current replicas or start-up time are negative.</exception>
    public static ScalingDecision Plan(ScalingInput input, ScalingOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Problems() is { Count: > 0 } problems)
        {
            throw new ArgumentException("Invalid scaling options: " + string.Join("; ", problems), nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(input.CurrentReplicas);
        ArgumentOutOfRangeException.ThrowIfLessThan(input.StartupTime, TimeSpan.Zero);

        var current = input.CurrentReplicas;
        ScalingDecision Decide(ScalingAction action, int target, string reason) =>
            new(action, current, target, reason, action != ScalingAction.Hold && !options.ForecastOnly);

        if (input.Forecast.Status != ForecastStatus.Ready)
        {
            return Decide(ScalingAction.Hold, current, $"{input.Forecast.Message} Keeping {current} replica(s).");
        }

        if (current < options.MinReplicas)
        {
            return Decide(ScalingAction.ScaleOut, options.MinReplicas, $"{current} replica(s) run, below --min-replicas={options.MinReplicas}.");
        }

        if (current > options.MaxReplicas)
        {
            return Decide(ScalingAction.ScaleIn, options.MaxReplicas, $"{current} replica(s) run, above --max-replicas={options.MaxReplicas}.");
        }

        var forecastPeak = PeakOf(input.Forecast.Points, input.Now, input.Now + input.StartupTime);
        var forecastNeed = forecastPeak is { } peak ? options.ReplicasFor(peak.Rate) : (int?)null;

        var observed = input.ObservedRates.Where(s => double.IsFinite(s.Value) && s.Time <= input.Now).OrderBy(s => s.Time).ToList();
        var latest = observed.Count > 0 && input.Now - observed[^1].Time <= input.ObservedStep * 2 ? observed[^1] : (MetricSample?)null;
        var observedNeed = latest is { } l ? options.ReplicasFor(l.Value) : (int?)null;

        var forecastText = forecastPeak is { } highest
            ? $"the forecast {Rate(highest.Rate)} at {highest.Time:HH:mm} needs {forecastNeed}"
            : "the forecast does not cover now";
        var observedText = latest is { } seen ? $"the observed {Rate(seen.Value)} needs {observedNeed}" : "no load observed in the last " + Seconds(input.ObservedStep * 2);

        var outNeed = Math.Max(forecastNeed ?? 0, observedNeed ?? 0);
        if (outNeed > current)
        {
            var why = forecastNeed >= (observedNeed ?? 0)
                ? $"{forecastText} (looking {Seconds(input.StartupTime)} ahead: the release's start-up time)"
                : observedText;
            return Decide(ScalingAction.ScaleOut, outNeed, $"Scale out from {current} to {outNeed}: {why}.");
        }

        var windowStart = input.Now - options.StabilizationWindow;
        var inWindow = observed.Where(s => s.Time >= windowStart).ToList();
        var gap = LargestGap(inWindow, windowStart, input.Now);
        if (inWindow.Count == 0 || gap > input.ObservedStep * 2)
        {
            return Decide(ScalingAction.Hold, current,
                $"Keeping {current}: {forecastText}, {observedText}; the observed load has a gap of {Seconds(gap)} in the {Seconds(options.StabilizationWindow)} stabilisation window, so it cannot show the load stayed low (scaling in needs it to).");
        }

        var windowPeak = inWindow.MaxBy(s => s.Value);
        var inNeed = Math.Max(options.ReplicasFor(windowPeak.Value), forecastNeed ?? options.MinReplicas);
        if (inNeed < current)
        {
            return Decide(ScalingAction.ScaleIn, inNeed,
                $"Scale in from {current} to {inNeed}: the observed load peaked at {Rate(windowPeak.Value)} over the last {Seconds(options.StabilizationWindow)}, which needs {options.ReplicasFor(windowPeak.Value)}, and {forecastText}.");
        }

        return Decide(ScalingAction.Hold, current,
            $"Keeping {current}: {forecastText}, {observedText}, and the observed peak over the last {Seconds(options.StabilizationWindow)} ({Rate(windowPeak.Value)}) needs {options.ReplicasFor(windowPeak.Value)}.");
    }

    /// <summary>
    /// The highest forecast rate from <paramref name="from"/> to <paramref name="to"/>, reading the hourly means as a
    /// curve: each hour's mean at the middle of the hour, straight lines between (so a rising load is seen rising
    /// within the hour, not as a step at its start), flat in the first and last half hours. Null when the forecast does
    /// not cover <paramref name="from"/>.
    /// </summary>
    private static (DateTimeOffset Time, double Rate)? PeakOf(IReadOnlyList<ForecastPoint> points, DateTimeOffset from, DateTimeOffset to)
    {
        if (points.Count == 0 || from < points[0].HourStart || from >= points[^1].HourStart + HourlySeries.Hour)
        {
            return null;
        }

        var half = HourlySeries.Hour / 2;
        double At(DateTimeOffset t)
        {
            if (t <= points[0].HourStart + half)
            {
                return points[0].Rate;
            }

            for (var i = 0; i < points.Count - 1; i++)
            {
                var (left, right) = (points[i].HourStart + half, points[i + 1].HourStart + half);
                if (t <= right)
                {
                    return points[i].Rate + ((t - left) / (right - left) * (points[i + 1].Rate - points[i].Rate));
                }
            }

            return points[^1].Rate;
        }

        var end = to < points[^1].HourStart + HourlySeries.Hour ? to : points[^1].HourStart + HourlySeries.Hour;
        var times = new[] { from, end }.Concat(points.Select(p => p.HourStart + half).Where(m => m > from && m < end));
        return times.Select(t => (Time: t, Rate: At(t))).MaxBy(p => p.Rate);
    }

    private static TimeSpan LargestGap(IReadOnlyList<MetricSample> samples, DateTimeOffset from, DateTimeOffset to)
    {
        if (samples.Count == 0)
        {
            return to - from;
        }

        var largest = samples[0].Time - from;
        for (var i = 1; i < samples.Count; i++)
        {
            largest = TimeSpan.FromTicks(Math.Max(largest.Ticks, (samples[i].Time - samples[i - 1].Time).Ticks));
        }

        return TimeSpan.FromTicks(Math.Max(largest.Ticks, (to - samples[^1].Time).Ticks));
    }

    private static string Rate(double rate) => rate.ToString("0.##", CultureInfo.InvariantCulture) + " req/s";

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";
}

/// <summary>What the planner decides from.</summary>
/// <param name="CurrentReplicas">The replicas the live release runs now.</param>
/// <param name="Forecast">The forecast of the coming hours.</param>
/// <param name="ObservedRates">Observed request rates (per second), e.g. every <paramref name="ObservedStep"/> over at least the stabilisation window.</param>
/// <param name="ObservedStep">The spacing of <paramref name="ObservedRates"/>; a gap longer than two steps is missing data.</param>
/// <param name="StartupTime">How long a new replica of this release takes to serve (measured on its deploys).</param>
/// <param name="Now">The current time.</param>
public sealed record ScalingInput(
    int CurrentReplicas,
    RateForecast Forecast,
    IReadOnlyList<MetricSample> ObservedRates,
    TimeSpan ObservedStep,
    TimeSpan StartupTime,
    DateTimeOffset Now);

/// <summary>What the planner decided.</summary>
/// <param name="Action">Scale out, scale in, or hold.</param>
/// <param name="CurrentReplicas">The replicas that run now.</param>
/// <param name="TargetReplicas">The replicas there should be.</param>
/// <param name="Reason">Why, in one sentence with the figures.</param>
/// <param name="MayAct">False in forecast-only mode (and for a hold): report, change nothing.</param>
public sealed record ScalingDecision(ScalingAction Action, int CurrentReplicas, int TargetReplicas, string Reason, bool MayAct);

/// <summary>What the planner decided to do.</summary>
public enum ScalingAction
{
    /// <summary>Keep the replicas that run.</summary>
    Hold,

    /// <summary>Start more replicas.</summary>
    ScaleOut,

    /// <summary>Remove replicas.</summary>
    ScaleIn,
}
