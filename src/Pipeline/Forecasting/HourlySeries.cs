using Pipeline.Metrics;

namespace Pipeline.Forecasting;

/// <summary>
/// A request rate per hour: <see cref="Values"/>[i] is the mean rate (requests per second) during the hour that starts
/// at <see cref="Start"/> + i hours (UTC). A missing hour is <see cref="double.NaN"/>.
/// </summary>
public sealed class HourlySeries
{
    /// <summary>One hour.</summary>
    public static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    /// <summary>Creates a series; <paramref name="start"/> must be on a whole hour (UTC).</summary>
    /// <exception cref="ArgumentException">The start is not on a whole hour.</exception>
    public HourlySeries(DateTimeOffset start, IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (start.ToUniversalTime().Ticks % Hour.Ticks != 0)
        {
            throw new ArgumentException($"An hourly series starts on a whole hour; {start:o} does not.", nameof(start));
        }

        Start = start.ToUniversalTime();
        Values = values.Select(v => double.IsFinite(v) && v >= 0 ? v : double.NaN).ToArray();
    }

    /// <summary>The start of the first hour (UTC).</summary>
    public DateTimeOffset Start { get; }

    /// <summary>The end of the last hour (UTC).</summary>
    public DateTimeOffset End => Start + (Hour * Values.Count);

    /// <summary>The mean rate of each hour; NaN where there is no data. Negative and infinite values count as missing.</summary>
    public IReadOnlyList<double> Values { get; }

    /// <summary>How many hours have data.</summary>
    public int ObservedHours => Values.Count(v => !double.IsNaN(v));

    /// <summary>The start of the hour at <paramref name="index"/>.</summary>
    public DateTimeOffset HourAt(int index) => Start + (Hour * index);

    /// <summary>The hours from <paramref name="from"/> (inclusive) to <paramref name="to"/> (exclusive), both on whole hours inside this series.</summary>
    public HourlySeries Slice(DateTimeOffset from, DateTimeOffset to)
    {
        var first = (int)((from - Start) / Hour);
        var count = (int)((to - from) / Hour);
        if (first < 0 || count < 0 || first + count > Values.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(from), $"{from:u}..{to:u} is not inside {Start:u}..{End:u}.");
        }

        return new HourlySeries(from, Values.Skip(first).Take(count).ToArray());
    }

    /// <summary>
    /// Builds the series from a Prometheus range query evaluated every hour whose value at time T is the mean rate over
    /// the hour before T (e.g. <c>rate(x[1h])</c>): that value belongs to the hour starting at T − 1 h. Hours without a
    /// sample stay missing; samples outside <paramref name="start"/>..<paramref name="end"/> are ignored.
    /// </summary>
    public static HourlySeries FromTrailingHourSamples(IEnumerable<MetricSample> samples, DateTimeOffset start, DateTimeOffset end)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var count = (int)((end - start) / Hour);
        var values = Enumerable.Repeat(double.NaN, count).ToArray();
        foreach (var sample in samples)
        {
            var offset = sample.Time - Hour - start;
            if (offset.Ticks % Hour.Ticks != 0)
            {
                offset = TimeSpan.FromHours(Math.Round(offset / Hour));
            }

            var index = (int)(offset / Hour);
            if (index >= 0 && index < count)
            {
                values[index] = sample.Value;
            }
        }

        return new HourlySeries(start, values);
    }
}
