using Pipeline.Metrics;

namespace Pipeline.Forecasting;

/// <summary>
/// Reads a service's request rate from Prometheus with one query (its <c>${window}</c> placeholder is filled per
/// read): the hourly history the forecast is fitted on, the recent rates scaling decides on, and the rate now.
/// </summary>
/// <param name="prometheus">The Prometheus to read.</param>
/// <param name="query">PromQL giving one series of requests per second; <c>${window}</c> becomes the rate window.</param>
public sealed class RequestRates(PrometheusClient prometheus, string query)
{
    /// <summary>The query as given (with <c>${window}</c> unfilled).</summary>
    public string Query { get; } = query;

    /// <summary>
    /// The mean rate of each whole hour of the <paramref name="days"/> days before the hour <paramref name="now"/> is in.
    /// Hours without data are gaps.
    /// </summary>
    /// <exception cref="PrometheusEmptyResultException">The query has no data in the whole range.</exception>
    /// <exception cref="PrometheusResultShapeException">The query gives several series.</exception>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus rejected the query.</exception>
    public async Task<HourlySeries> HistoryAsync(DateTimeOffset now, int days, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 1);
        var end = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % HourlySeries.Hour.Ticks), TimeSpan.Zero);
        var start = end - TimeSpan.FromDays(days);
        var series = await prometheus.QueryRangeSingleAsync(
            For(HourlySeries.Hour), start + HourlySeries.Hour, end, HourlySeries.Hour, ct).ConfigureAwait(false);
        return HourlySeries.FromTrailingHourSamples(series.Samples, start, end);
    }

    /// <summary>
    /// The rate every <paramref name="step"/> over the <paramref name="span"/> before <paramref name="now"/>, each over
    /// the <paramref name="window"/> before it; empty when there is none.
    /// </summary>
    /// <exception cref="PrometheusResultShapeException">The query gives several series.</exception>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus rejected the query.</exception>
    public async Task<IReadOnlyList<MetricSample>> ObservedAsync(DateTimeOffset now, TimeSpan span, TimeSpan step, TimeSpan window, CancellationToken ct = default)
    {
        var series = await prometheus.QueryRangeAsync(For(window), now - span, now, step, ct).ConfigureAwait(false);
        return series.Count switch
        {
            0 => [],
            1 => series[0].Samples,
            _ => throw new PrometheusResultShapeException(prometheus.BaseUrl, For(window), $"it returned {series.Count} series where one is expected: {string.Join(", ", series.Take(5).Select(s => s.DescribeLabels()))}; aggregate them into one, e.g. sum(...)"),
        };
    }

    /// <summary>The rate over the <paramref name="window"/> before <paramref name="now"/>, or null when there is none.</summary>
    /// <exception cref="PrometheusResultShapeException">The query gives several series, or not a vector.</exception>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus rejected the query.</exception>
    public async Task<MetricSample?> CurrentAsync(DateTimeOffset now, TimeSpan window, CancellationToken ct = default)
    {
        try
        {
            return await prometheus.QuerySingleAsync(For(window), now, ct).ConfigureAwait(false);
        }
        catch (PrometheusEmptyResultException)
        {
            return null;
        }
    }

    private string For(TimeSpan window) => RequestRateQuery.WithWindow(Query, window);
}
