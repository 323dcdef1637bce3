namespace Pipeline.Forecasting;

/// <summary>
/// A robust seasonal model of an hourly request rate: trend × daily season × weekly season.
/// </summary>
/// <remarks>
/// <para>
/// <b>The model.</b> <c>log(rate + ε) = a + b·t + daily[hour of day] + weekly[day of week] + noise</c>, in UTC, with
/// <c>ε</c> 1 % of the median rate (so hours without traffic have a finite log). Working in logs makes the seasons
/// multiplicative: a service whose traffic grows keeps the shape of its day, and its peaks grow with it, which is how
/// request rates behave. <c>b</c> is the growth per hour (<see cref="GrowthPerDay"/> reports it per day), the daily
/// season has 24 values and the weekly season one value per day of the week (a level, e.g. weekends at half the traffic);
/// both are centred on zero.
/// </para>
/// <para>
/// <b>The fit</b> is a robust additive decomposition by backfitting: starting from no seasons, it repeats six times
/// (1) the trend by Theil–Sen (the median of the slopes between every pair of hours at least a day apart, the intercept
/// the median of what is left) on the rate without its seasons, (2) each hour of the day's value as the median of that
/// hour's residuals, (3) each day of the week's value as the median of that day's residuals. Medians are the point:
/// a one-off spike, an outage or a gap moves a mean, but not a median of 13 days, so an incident in the history does not
/// become part of the forecast. Missing hours are simply left out; an hour of the day never seen is interpolated from
/// its neighbours.
/// </para>
/// <para>
/// <b>Why not Holt-Winters with two seasons</b> (Taylor's double seasonal exponential smoothing): it needs its four
/// smoothing constants fitted by a numerical optimiser, its initial weekly state takes a full week and a half of the
/// default 14 days, and as a least-squares method it carries a spike forward until it decays. The decomposition has
/// nothing to tune, fits in milliseconds and its parts can be read in the report.
/// </para>
/// <para>
/// <b>Limits.</b> The weekly season is a level per UTC day, fitted only when every day of the week has at least
/// <see cref="MinimumHoursPerWeekday"/> hours of data (one week and a half of history); with less it is left out and
/// said so. A weekday whose daily shape differs (a weekend peak at a later hour) keeps the common shape at its own
/// level. The trend is one straight line in logs (steady relative growth) over the whole history: a level shift is
/// followed only halfway until it is in most of the history.
/// </para>
/// </remarks>
public sealed class SeasonalModel
{
    /// <summary>The fewest hours with data the model is fitted on (two days: every hour of the day seen twice).</summary>
    public const int MinimumHours = 48;

    /// <summary>The fewest hours of data each day of the week needs before the weekly season is fitted.</summary>
    public const int MinimumHoursPerWeekday = 12;

    private const int Iterations = 6;
    private const int MaxSlopePairs = 250_000;

    private readonly DateTimeOffset _origin;
    private readonly double _intercept;
    private readonly double _slopePerHour;
    private readonly double[] _daily;
    private readonly double[] _weekly;
    private readonly double _epsilon;

    private SeasonalModel(DateTimeOffset origin, double intercept, double slopePerHour, double[] daily, double[] weekly, double epsilon, int fittedHours, bool weeklySeason)
    {
        _origin = origin;
        _intercept = intercept;
        _slopePerHour = slopePerHour;
        _daily = daily;
        _weekly = weekly;
        _epsilon = epsilon;
        FittedHours = fittedHours;
        HasWeeklySeason = weeklySeason;
    }

    /// <summary>True when the weekly season was fitted (every day of the week had enough data).</summary>
    public bool HasWeeklySeason { get; }

    /// <summary>How many hours with data the model was fitted on.</summary>
    public int FittedHours { get; }

    /// <summary>The trend's relative growth per day: 0.02 is 2 % more traffic each day, -0.01 is 1 % less.</summary>
    public double GrowthPerDay => Math.Exp(_slopePerHour * 24) - 1;

    /// <summary>
    /// The daily season as factors per hour of the day (UTC): 1.5 is 50 % above the day's typical rate. Index 0 is 00:00-01:00.
    /// </summary>
    public IReadOnlyList<double> DailyFactors => _daily.Select(Math.Exp).ToArray();

    /// <summary>The weekly season as factors per day of the week (index = <see cref="DayOfWeek"/>); all 1 when not fitted.</summary>
    public IReadOnlyList<double> WeeklyFactors => _weekly.Select(Math.Exp).ToArray();

    /// <summary>Fits the model to <paramref name="history"/>.</summary>
    /// <exception cref="ArgumentException">The history has fewer than <see cref="MinimumHours"/> hours with data.</exception>
    public static SeasonalModel Fit(HourlySeries history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var observed = Enumerable.Range(0, history.Values.Count).Where(i => !double.IsNaN(history.Values[i])).ToArray();
        if (observed.Length < MinimumHours)
        {
            throw new ArgumentException($"The model needs at least {MinimumHours} hours with data; the history from {history.Start:u} has {observed.Length}.", nameof(history));
        }

        var epsilon = Math.Max(1e-6, 0.01 * Median(observed.Select(i => history.Values[i]).ToArray()));
        var n = observed.Length;
        var t = new double[n];
        var z = new double[n];
        var hour = new int[n];
        var day = new int[n];
        for (var k = 0; k < n; k++)
        {
            var i = observed[k];
            var at = history.HourAt(i);
            t[k] = i;
            z[k] = Math.Log(history.Values[i] + epsilon);
            hour[k] = at.Hour;
            day[k] = (int)at.DayOfWeek;
        }

        var weeklySeason = Enumerable.Range(0, 7).All(d => day.Count(x => x == d) >= MinimumHoursPerWeekday);
        var daily = new double[24];
        var weekly = new double[7];
        double intercept = 0, slope = 0;
        var residual = new double[n];
        for (var iteration = 0; iteration < Iterations; iteration++)
        {
            for (var k = 0; k < n; k++)
            {
                residual[k] = z[k] - daily[hour[k]] - weekly[day[k]];
            }

            (intercept, slope) = TheilSen(t, residual);

            for (var k = 0; k < n; k++)
            {
                residual[k] = z[k] - intercept - (slope * t[k]) - weekly[day[k]];
            }

            daily = SlotMedians(residual, hour, 24);

            if (weeklySeason)
            {
                for (var k = 0; k < n; k++)
                {
                    residual[k] = z[k] - intercept - (slope * t[k]) - daily[hour[k]];
                }

                weekly = SlotMedians(residual, day, 7);
            }
        }

        // Whatever the seasons' centring moved lives in the intercept.
        for (var k = 0; k < n; k++)
        {
            residual[k] = z[k] - (slope * t[k]) - daily[hour[k]] - weekly[day[k]];
        }

        intercept = Median(residual);
        return new SeasonalModel(history.Start, intercept, slope, daily, weekly, epsilon, n, weeklySeason);
    }

    /// <summary>The mean rate the model expects in the hour starting at <paramref name="hourStart"/> (never negative).</summary>
    public double Predict(DateTimeOffset hourStart)
    {
        var at = hourStart.ToUniversalTime();
        var t = (at - _origin) / HourlySeries.Hour;
        var z = _intercept + (_slopePerHour * t) + _daily[at.Hour] + _weekly[(int)at.DayOfWeek];
        return Math.Max(0, Math.Exp(z) - _epsilon);
    }

    /// <summary>Theil–Sen: the median slope over pairs of points at least a day apart, and the median intercept.</summary>
    private static (double Intercept, double Slope) TheilSen(double[] t, double[] y)
    {
        const double MinimumGap = 24;
        var n = t.Length;
        var pairs = 0L;
        for (var i = 0; i < n; i++)
        {
            var j = Array.BinarySearch(t, t[i] + MinimumGap);
            pairs += n - (j >= 0 ? j : ~j);
        }

        double slope;
        if (pairs == 0)
        {
            slope = 0;
        }
        else
        {
            // Long histories: every stride-th pair, spread over the whole history, keeps the work bounded.
            var stride = (int)Math.Max(1, (pairs + MaxSlopePairs - 1) / MaxSlopePairs);
            var slopes = new List<double>((int)Math.Min(pairs, MaxSlopePairs) + 1);
            var counter = 0L;
            for (var i = 0; i < n; i++)
            {
                var first = Array.BinarySearch(t, t[i] + MinimumGap);
                for (var j = first >= 0 ? first : ~first; j < n; j++)
                {
                    if (counter++ % stride == 0)
                    {
                        slopes.Add((y[j] - y[i]) / (t[j] - t[i]));
                    }
                }
            }

            slope = Median(slopes.ToArray());
        }

        var intercepts = new double[n];
        for (var i = 0; i < n; i++)
        {
            intercepts[i] = y[i] - (slope * t[i]);
        }

        return (Median(intercepts), slope);
    }

    /// <summary>The median residual per slot, centred on zero; a slot without data takes the mean of its nearest neighbours (circularly).</summary>
    private static double[] SlotMedians(double[] residual, int[] slot, int slots)
    {
        var buckets = Enumerable.Range(0, slots).Select(_ => new List<double>()).ToArray();
        for (var k = 0; k < residual.Length; k++)
        {
            buckets[slot[k]].Add(residual[k]);
        }

        var values = buckets.Select(b => b.Count == 0 ? double.NaN : Median(b.ToArray())).ToArray();
        var filled = values.ToArray();
        for (var s = 0; s < slots; s++)
        {
            if (!double.IsNaN(values[s]))
            {
                continue;
            }

            double? before = null, after = null;
            for (var d = 1; d < slots && (before is null || after is null); d++)
            {
                before ??= double.IsNaN(values[(s - d + slots) % slots]) ? null : values[(s - d + slots) % slots];
                after ??= double.IsNaN(values[(s + d) % slots]) ? null : values[(s + d) % slots];
            }

            filled[s] = ((before ?? 0) + (after ?? 0)) / 2;
        }

        var mean = filled.Average();
        return filled.Select(v => v - mean).ToArray();
    }

    /// <summary>The median (the mean of the two middle values for an even count); reorders <paramref name="values"/>.</summary>
    internal static double Median(double[] values)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(values);
        var middle = values.Length / 2;
        return values.Length % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }
}
