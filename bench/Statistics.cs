namespace Pipeline.Bench;

/// <summary>Percentiles by the nearest-rank method: the smallest sample with at least p % of the samples at or below it.</summary>
internal static class Statistics
{
    /// <summary>The p-th percentile (0 &lt; p ≤ 100) of the samples, or null when there are none.</summary>
    public static double? Percentile(IEnumerable<double> samples, double p)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(p);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 100);
        var sorted = samples.Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    /// <summary>The median (nearest rank: the lower middle for an even count), or null when there are no samples.</summary>
    public static double? Median(IEnumerable<double> samples) => Percentile(samples, 50);

    /// <summary>The largest sample, or null when there are none.</summary>
    public static double? Max(IEnumerable<double> samples)
    {
        var list = samples.ToList();
        return list.Count == 0 ? null : list.Max();
    }
}
