using System.Globalization;
using System.Text;
using Pipeline.Forecasting;

namespace Pipeline.Testing.Support;

/// <summary>
/// Request-rate histories with a known answer: a rate function of time (requests per second), sampled every minute
/// with deterministic ±5 % noise, optionally with gaps and with a first hour before which there is no data.
/// The same histories feed the fast tests (as hourly means), the Prometheus tests and the forecast bench (as an
/// OpenMetrics counter backfilled with promtool).
/// </summary>
public sealed record SyntheticTraffic(
    string Name,
    Func<DateTimeOffset, double> Rate,
    Func<DateTimeOffset, double> Expected,
    Func<DateTimeOffset, bool> Missing,
    DateTimeOffset? FirstData = null)
{
    /// <summary>±5 % uniform per-minute noise: σ ≈ 2.9 % per minute, ≈ 0.37 % for an hour's mean of 60 minutes.</summary>
    public const double NoiseAmplitude = 0.05;

    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    /// <summary>Peak at 15:00 UTC (1.6×), trough at 03:00 (0.4×).</summary>
    public static double Daily(DateTimeOffset t) =>
        1 + (0.6 * Math.Sin(2 * Math.PI * ((t.UtcDateTime.TimeOfDay.TotalHours - 9) / 24)));

    /// <summary>50 req/s on average, the daily shape.</summary>
    public static SyntheticTraffic DailyPattern() => new("daily", t => 50 * Daily(t), t => 50 * Daily(t), _ => false);

    /// <summary>The daily shape, and one day of the week at 40 % (the day after <paramref name="end"/>, so the forecast crosses into and out of it).</summary>
    public static SyntheticTraffic WeeklyPattern(DateTimeOffset end)
    {
        var low = end.UtcDateTime.AddDays(1).DayOfWeek;
        double Rate(DateTimeOffset t) => 50 * Daily(t) * (t.UtcDateTime.DayOfWeek == low ? 0.4 : 1);
        return new("weekly", Rate, Rate, _ => false);
    }

    /// <summary>The daily shape on a level that grows by 4 % of its start every day (linear, so a log-linear trend is only an approximation).</summary>
    public static SyntheticTraffic GrowingTrend(DateTimeOffset end, int historyDays)
    {
        var start = end - TimeSpan.FromDays(historyDays);
        double Rate(DateTimeOffset t) => 50 * (1 + (0.04 * (t - start).TotalDays)) * Daily(t);
        return new("trend", Rate, Rate, _ => false);
    }

    /// <summary>The daily shape with a one-off spike: 8× for three hours, starting <paramref name="before"/> the end. Expected: without the spike.</summary>
    public static SyntheticTraffic OneOffSpike(DateTimeOffset end, TimeSpan before)
    {
        var from = end - before;
        var to = from + TimeSpan.FromHours(3);
        return new("spike", t => 50 * Daily(t) * (t >= from && t < to ? 8 : 1), t => 50 * Daily(t), _ => false);
    }

    /// <summary>The daily shape with gaps: a whole day (5 days before the end), 6 hours (9 days before) and every 7th hour of the first week.</summary>
    public static SyntheticTraffic WithGaps(DateTimeOffset end, int historyDays)
    {
        var start = end - TimeSpan.FromDays(historyDays);
        var day = (From: end - TimeSpan.FromDays(5), To: end - TimeSpan.FromDays(4));
        var hours = (From: end - TimeSpan.FromDays(9), To: end - TimeSpan.FromDays(9) + TimeSpan.FromHours(6));
        bool Missing(DateTimeOffset t) =>
            (t >= day.From && t < day.To) || (t >= hours.From && t < hours.To) || (t < start + TimeSpan.FromDays(7) && ((long)(t - start).TotalHours) % 7 == 3);
        return new("gaps", t => 50 * Daily(t), t => 50 * Daily(t), Missing);
    }

    /// <summary>A brand-new service: the daily shape, data only for the last <paramref name="hours"/> hours.</summary>
    public static SyntheticTraffic BrandNew(DateTimeOffset end, int hours) =>
        new("new", t => 50 * Daily(t), t => 50 * Daily(t), _ => false, end - TimeSpan.FromHours(hours));

    /// <summary>The true mean rate of the hour starting at <paramref name="hourStart"/> (of <see cref="Expected"/>, minute by minute).</summary>
    public double ExpectedHour(DateTimeOffset hourStart) =>
        Enumerable.Range(0, 60).Average(m => Expected(hourStart + (Minute * m) + (Minute / 2)));

    /// <summary>The per-minute observed rates (with noise) from <paramref name="start"/> to <paramref name="end"/>; missing minutes left out.</summary>
    public IEnumerable<(DateTimeOffset Time, double Rate)> Minutes(DateTimeOffset start, DateTimeOffset end)
    {
        for (var t = start; t < end; t += Minute)
        {
            if (Missing(t) || (FirstData is { } first && t < first))
            {
                continue;
            }

            yield return (t, Rate(t + (Minute / 2)) * (1 + (NoiseAmplitude * Noise(t))));
        }
    }

    /// <summary>The hourly means of <see cref="Minutes"/>, NaN for an hour without data.</summary>
    public HourlySeries Hourly(DateTimeOffset start, DateTimeOffset end)
    {
        var hours = (int)((end - start) / HourlySeries.Hour);
        var sums = new double[hours];
        var counts = new int[hours];
        foreach (var (time, rate) in Minutes(start, end))
        {
            var index = (int)((time - start) / HourlySeries.Hour);
            sums[index] += rate;
            counts[index]++;
        }

        return new HourlySeries(start, sums.Zip(counts, (s, c) => c == 0 ? double.NaN : s / c).ToArray());
    }

    /// <summary>
    /// The history as an OpenMetrics counter <paramref name="metric"/>{labels}: the requests so far, sampled once a
    /// minute. A missing minute is a scrape that did not happen: no sample, but its requests are still counted (as a
    /// proxy's counter keeps counting while nobody scrapes it). A brand-new service's counter starts at 0.
    /// </summary>
    public void WriteOpenMetrics(StringBuilder output, string metric, string labels, DateTimeOffset start, DateTimeOffset end)
    {
        var total = 0.0;
        for (var t = FirstData is { } first && first > start ? first : start; t < end; t += Minute)
        {
            total += Rate(t + (Minute / 2)) * (1 + (NoiseAmplitude * Noise(t))) * 60;
            if (!Missing(t))
            {
                output.Append(metric).Append('{').Append(labels).Append("} ")
                    .Append(total.ToString("0.###", CultureInfo.InvariantCulture)).Append(' ')
                    .Append((t + Minute).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
    }

    /// <summary>Deterministic noise in [-1, 1] from the minute (splitmix64 of the Unix minute and the name).</summary>
    private double Noise(DateTimeOffset t)
    {
        var x = (ulong)(t.ToUnixTimeSeconds() / 60) ^ ((ulong)(uint)StableHash(Name) << 32);
        x += 0x9E3779B97F4A7C15;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
        x ^= x >> 31;
        return ((x >> 11) * (1.0 / (1UL << 53)) * 2) - 1;
    }

    private static int StableHash(string text) => text.Aggregate(17, (h, c) => unchecked((h * 31) + c));
}
