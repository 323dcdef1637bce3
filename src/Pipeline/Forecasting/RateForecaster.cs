using System.Globalization;

namespace Pipeline.Forecasting;

/// <summary>
/// Forecasts an hourly request rate with <see cref="SeasonalModel"/> and measures the forecast's error every time:
/// the model is first fitted without the last day of the history, that day is forecast and compared with what happened
/// (MAPE), then the model is fitted on the whole history and forecasts the coming hours. Pure: no I/O, no clock.
/// </summary>
public static class RateForecaster
{
    /// <summary>The held-out day: the last 24 hours of the history.</summary>
    public static readonly TimeSpan HeldOut = TimeSpan.FromDays(1);

    /// <summary>The fewest hours of data the held-out day needs for its error to be reported.</summary>
    public const int MinimumHeldOutHours = 12;

    /// <summary>
    /// Forecasts the <paramref name="horizonHours"/> hours after <paramref name="history"/>'s end. With less than
    /// <see cref="SeasonalModel.MinimumHours"/> hours of data before the held-out day, the result says so and has no points.
    /// </summary>
    public static RateForecast Forecast(HourlySeries history, int horizonHours)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfLessThan(horizonHours, 1);
        var heldOutStart = history.End - HeldOut;
        var summary = new HistorySummary(history.Start, history.End, history.Values.Count, history.ObservedHours, FirstObserved(history));
        if (heldOutStart < history.Start)
        {
            return RateForecast.TooLittle(summary, TooLittleMessage(summary));
        }

        var training = history.Slice(history.Start, heldOutStart);
        if (training.ObservedHours < SeasonalModel.MinimumHours)
        {
            return RateForecast.TooLittle(summary, TooLittleMessage(summary));
        }

        var heldOut = Evaluate(SeasonalModel.Fit(training), history.Slice(heldOutStart, history.End));
        var model = SeasonalModel.Fit(history);
        var points = Enumerable.Range(0, horizonHours)
            .Select(h => history.End + (HourlySeries.Hour * h))
            .Select(hour => new ForecastPoint(hour, model.Predict(hour)))
            .ToList();
        return new RateForecast(ForecastStatus.Ready, null, summary, heldOut, new ModelSummary(model.HasWeeklySeason, model.GrowthPerDay, model.FittedHours), points);
    }

    /// <summary>MAPE over the hours with data and a rate above zero (a percentage error of a zero rate is undefined).</summary>
    internal static HeldOutError Evaluate(SeasonalModel model, HourlySeries actual)
    {
        var errors = new List<double>();
        var zero = 0;
        for (var i = 0; i < actual.Values.Count; i++)
        {
            var value = actual.Values[i];
            if (double.IsNaN(value))
            {
                continue;
            }

            if (value <= 0)
            {
                zero++;
                continue;
            }

            errors.Add(Math.Abs(model.Predict(actual.HourAt(i)) - value) / value);
        }

        if (errors.Count < MinimumHeldOutHours)
        {
            var reason = zero > 0 && errors.Count + zero >= MinimumHeldOutHours
                ? $"the held-out day has {errors.Count} hours with traffic (and {zero} without), fewer than {MinimumHeldOutHours}"
                : $"the held-out day has {errors.Count + zero} hours with data, fewer than {MinimumHeldOutHours}";
            return new HeldOutError(actual.Start, actual.End, null, errors.Count, reason);
        }

        return new HeldOutError(actual.Start, actual.End, 100 * errors.Average(), errors.Count, null);
    }

    private static DateTimeOffset? FirstObserved(HourlySeries history)
    {
        for (var i = 0; i < history.Values.Count; i++)
        {
            if (!double.IsNaN(history.Values[i]))
            {
                return history.HourAt(i);
            }
        }

        return null;
    }

    private static string TooLittleMessage(HistorySummary history)
    {
        var need = (SeasonalModel.MinimumHours / 24) + (int)HeldOut.TotalDays;
        var have = history.FirstObserved is { } first
            ? $"it has {history.ObservedHours} hours of data, the first from {first.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC"
            : "it has no data at all";
        return $"Too little history to forecast: a forecast needs {need} days of request rates ({SeasonalModel.MinimumHours} hours to learn the daily pattern, then the last day held out to measure the error); {have}. Nothing is scaled on a forecast until then.";
    }
}

/// <summary>Whether a forecast could be made.</summary>
public enum ForecastStatus
{
    /// <summary>The forecast and its held-out error are ready.</summary>
    Ready,

    /// <summary>The history is too short (a new service): no forecast, and nothing is scaled on one.</summary>
    TooLittleHistory,
}

/// <summary>A forecast of the coming hours.</summary>
/// <param name="Status">Whether there is a forecast.</param>
/// <param name="Message">Why there is none, when <see cref="Status"/> is not <see cref="ForecastStatus.Ready"/>.</param>
/// <param name="History">What history it was made from.</param>
/// <param name="HeldOut">The error on the last day of the history, forecast without it; null without a forecast.</param>
/// <param name="Model">What the fitted model found; null without a forecast.</param>
/// <param name="Points">One point per coming hour, oldest first; empty without a forecast.</param>
public sealed record RateForecast(
    ForecastStatus Status,
    string? Message,
    HistorySummary History,
    HeldOutError? HeldOut,
    ModelSummary? Model,
    IReadOnlyList<ForecastPoint> Points)
{
    internal static RateForecast TooLittle(HistorySummary history, string message) =>
        new(ForecastStatus.TooLittleHistory, message, history, null, null, []);
}

/// <summary>The predicted mean request rate (per second) of one hour.</summary>
/// <param name="HourStart">The hour's start (UTC).</param>
/// <param name="Rate">Requests per second.</param>
public sealed record ForecastPoint(DateTimeOffset HourStart, double Rate);

/// <summary>The history a forecast was made from.</summary>
/// <param name="From">The first hour asked for.</param>
/// <param name="To">The end of the last hour.</param>
/// <param name="Hours">Hours asked for.</param>
/// <param name="ObservedHours">Hours with data (the rest are gaps).</param>
/// <param name="FirstObserved">The first hour with data, or null when there is none.</param>
public sealed record HistorySummary(DateTimeOffset From, DateTimeOffset To, int Hours, int ObservedHours, DateTimeOffset? FirstObserved);

/// <summary>The forecast's error on the held-out day.</summary>
/// <param name="From">The held-out day's first hour.</param>
/// <param name="To">Its end.</param>
/// <param name="Mape">Mean absolute percentage error (5.0 is 5 %), or null when the day had too little data.</param>
/// <param name="Hours">Hours it was measured on.</param>
/// <param name="Unavailable">Why there is no MAPE, or null.</param>
public sealed record HeldOutError(DateTimeOffset From, DateTimeOffset To, double? Mape, int Hours, string? Unavailable);

/// <summary>What the fitted model found.</summary>
/// <param name="WeeklySeason">Whether the weekly season was fitted.</param>
/// <param name="GrowthPerDay">Relative growth per day (0.02 = 2 %).</param>
/// <param name="FittedHours">Hours with data it was fitted on.</param>
public sealed record ModelSummary(bool WeeklySeason, double GrowthPerDay, int FittedHours);
