namespace Pipeline.Metrics;

/// <summary>One sample of a metric: when, and its value (NaN and infinities as Prometheus reports them).</summary>
/// <param name="Time">The evaluation time.</param>
/// <param name="Value">The value.</param>
public readonly record struct MetricSample(DateTimeOffset Time, double Value);

/// <summary>One series of a query's result: its labels and its samples in time order.</summary>
/// <param name="Labels">The series' labels (without <c>__name__</c> when the query aggregated it away).</param>
/// <param name="Samples">The samples, oldest first; one for an instant query.</param>
public sealed record MetricSeries(IReadOnlyDictionary<string, string> Labels, IReadOnlyList<MetricSample> Samples)
{
    /// <summary>The labels as PromQL writes them: <c>{proxy="hello_0", job="x"}</c>, or <c>{}</c>.</summary>
    public string DescribeLabels() =>
        "{" + string.Join(", ", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "}";
}
