using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;

namespace Pipeline.Metrics;

/// <summary>
/// Reads from Prometheus' HTTP API (<c>/api/v1/query</c>, <c>/api/v1/query_range</c>) into our own types. Every
/// failure is a <see cref="PrometheusException"/> that names the server and the query: unreachable, a non-success
/// answer (with Prometheus' errorType and error), a result of the wrong shape, or an empty result where data is needed.
/// Queries go as form posts (no URL length limit), never through an HTTP proxy.
/// </summary>
public sealed class PrometheusClient : IDisposable
{
    /// <summary>The most points Prometheus returns per series for one range query.</summary>
    public const int MaxPointsPerSeries = 11_000;

    private readonly HttpClient _http;

    /// <summary>Creates a client for the Prometheus at <paramref name="baseUrl"/> (e.g. <c>http://127.0.0.1:9090</c>).</summary>
    /// <param name="baseUrl">Prometheus' root URL; a path prefix (<c>--web.route-prefix</c>) is kept.</param>
    /// <param name="timeout">How long one request may take; 30 seconds by default.</param>
    /// <exception cref="ArgumentException">The URL is not an absolute http(s) URL.</exception>
    public PrometheusClient(Uri baseUrl, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        if (!baseUrl.IsAbsoluteUri || baseUrl.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"Prometheus URL '{baseUrl}' is not an absolute http(s) URL such as http://127.0.0.1:9090.", nameof(baseUrl));
        }

        BaseUrl = new Uri(baseUrl.AbsoluteUri.TrimEnd('/') + "/");
        Timeout = timeout ?? TimeSpan.FromSeconds(30);
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = Timeout }) { Timeout = Timeout };
    }

    /// <summary>The Prometheus this client reads from, ending with a slash.</summary>
    public Uri BaseUrl { get; }

    /// <summary>How long one request may take.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>
    /// Evaluates <paramref name="query"/> at one instant. A vector comes back as one series per element (one sample
    /// each); a scalar as one series without labels. An empty vector is an empty list.
    /// </summary>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus answered with an error (a bad query, an overloaded server) or not with its API's JSON.</exception>
    /// <exception cref="PrometheusResultShapeException">The result is a range vector or a string.</exception>
    public async Task<IReadOnlyList<MetricSeries>> QueryAsync(string query, DateTimeOffset at, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var (type, result) = await PostAsync("api/v1/query", query, [new("query", query), new("time", UnixSeconds(at))], ct).ConfigureAwait(false);
        return type switch
        {
            "vector" => result.EnumerateArray().Select(s => new MetricSeries(Labels(s), [Sample(s.GetProperty("value"))])).ToList(),
            "scalar" => [new MetricSeries(new Dictionary<string, string>(), [Sample(result)])],
            _ => throw new PrometheusResultShapeException(BaseUrl, query,
                $"its result is a {type}, where an instant vector or a scalar is expected" +
                (type == "matrix" ? " (a range selector such as [5m] needs a function around it, e.g. rate(...[5m]))" : "")),
        };
    }

    /// <summary>Evaluates <paramref name="query"/> at one instant and returns its single value.</summary>
    /// <exception cref="PrometheusEmptyResultException">The result is empty.</exception>
    /// <exception cref="PrometheusResultShapeException">The result has several series, or is not a vector or scalar.</exception>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus answered with an error.</exception>
    public async Task<MetricSample> QuerySingleAsync(string query, DateTimeOffset at, CancellationToken ct = default)
    {
        var series = await QueryAsync(query, at, ct).ConfigureAwait(false);
        return One(series, query, $"at {at:yyyy-MM-dd HH:mm:ss} UTC").Samples[0];
    }

    /// <summary>
    /// Evaluates <paramref name="query"/> from <paramref name="start"/> to <paramref name="end"/> every
    /// <paramref name="step"/>. Each series holds the steps where it had a value (Prometheus leaves gaps out).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The step is not positive, the range is empty, or it asks for more than <see cref="MaxPointsPerSeries"/> points.</exception>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus answered with an error or not with its API's JSON.</exception>
    /// <exception cref="PrometheusResultShapeException">The result is not a range vector (matrix).</exception>
    public async Task<IReadOnlyList<MetricSeries>> QueryRangeAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(step, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, end);
        var points = (end - start) / step + 1;
        if (points > MaxPointsPerSeries)
        {
            throw new ArgumentOutOfRangeException(nameof(step), $"{points:0} points per series from {start:u} to {end:u} every {step.TotalSeconds:0.###} s; Prometheus returns at most {MaxPointsPerSeries}: use a longer step or a shorter range.");
        }

        var (type, result) = await PostAsync(
            "api/v1/query_range",
            query,
            [new("query", query), new("start", UnixSeconds(start)), new("end", UnixSeconds(end)), new("step", step.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture))],
            ct).ConfigureAwait(false);
        if (type != "matrix")
        {
            throw new PrometheusResultShapeException(BaseUrl, query, $"its result is a {type}, where a range query gives a matrix");
        }

        return result.EnumerateArray()
            .Select(s => new MetricSeries(Labels(s), s.GetProperty("values").EnumerateArray().Select(Sample).ToList()))
            .ToList();
    }

    /// <summary>
    /// Like <see cref="QueryRangeAsync"/> for a query that must give exactly one series (aggregate with
    /// <c>sum(...)</c> when the metric has several), with at least one sample.
    /// </summary>
    /// <exception cref="PrometheusEmptyResultException">No series, or a series without samples.</exception>
    /// <exception cref="PrometheusResultShapeException">Several series (each named in the message), or not a matrix.</exception>
    /// <exception cref="PrometheusUnreachableException">Prometheus did not answer.</exception>
    /// <exception cref="PrometheusQueryException">Prometheus answered with an error.</exception>
    public async Task<MetricSeries> QueryRangeSingleAsync(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step, CancellationToken ct = default)
    {
        var series = await QueryRangeAsync(query, start, end, step, ct).ConfigureAwait(false);
        return One(series, query, $"between {start:yyyy-MM-dd HH:mm} and {end:yyyy-MM-dd HH:mm} UTC");
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private MetricSeries One(IReadOnlyList<MetricSeries> series, string query, string when)
    {
        if (series.Count > 1)
        {
            const int Shown = 5;
            throw new PrometheusResultShapeException(BaseUrl, query,
                $"it returned {series.Count} series where one is expected: {string.Join(", ", series.Take(Shown).Select(s => s.DescribeLabels()))}{(series.Count > Shown ? ", …" : "")}; aggregate them into one, e.g. sum(...)");
        }

        if (series.Count == 0 || series[0].Samples.Count == 0)
        {
            throw new PrometheusEmptyResultException(BaseUrl, query, when);
        }

        return series[0];
    }

    private async Task<(string Type, JsonElement Result)> PostAsync(string path, string query, IReadOnlyList<KeyValuePair<string, string>> form, CancellationToken ct)
    {
        var url = new Uri(BaseUrl, path);
        HttpResponseMessage response;
        string body;
        try
        {
            using var content = new FormUrlEncodedContent(form);
            response = await _http.PostAsync(url, content, ct).ConfigureAwait(false);
            body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is HttpRequestException or TaskCanceledException or IOException or SocketException)
        {
            throw new PrometheusUnreachableException(BaseUrl, query, Reason(e), e);
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(body);
            }
            catch (JsonException)
            {
                throw new PrometheusQueryException(BaseUrl, query, status, null, $"the answer is not Prometheus' API JSON (is {BaseUrl} a Prometheus?): {Excerpt(body)}");
            }

            using (document)
            {
                var root = document.RootElement;
                var outcome = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
                if (outcome == "error" || !response.IsSuccessStatusCode)
                {
                    var errorType = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("errorType", out var t) ? t.ToString() : null;
                    var error = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var m) ? m.ToString() : Excerpt(body);
                    throw new PrometheusQueryException(BaseUrl, query, status, errorType, error);
                }

                if (outcome != "success"
                    || !root.TryGetProperty("data", out var data)
                    || data.ValueKind != JsonValueKind.Object
                    || !data.TryGetProperty("resultType", out var type)
                    || !data.TryGetProperty("result", out var result))
                {
                    throw new PrometheusQueryException(BaseUrl, query, status, null, $"the answer has no data.resultType and data.result (is {BaseUrl} a Prometheus?): {Excerpt(body)}");
                }

                return (type.GetString() ?? "", result.Clone());
            }
        }
    }

    private static Dictionary<string, string> Labels(JsonElement series) =>
        series.TryGetProperty("metric", out var metric)
            ? metric.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    private static MetricSample Sample(JsonElement pair)
    {
        var time = pair[0].GetDouble();
        var text = pair[1].GetString() ?? "NaN";
        var value = text switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new MetricSample(DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(time * 1000)), value);
    }

    private static string UnixSeconds(DateTimeOffset time) =>
        (time.ToUnixTimeMilliseconds() / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);

    private string Reason(Exception e) => e switch
    {
        TaskCanceledException => $"no answer within {Timeout.TotalSeconds:0.#} s",
        _ when e.GetBaseException() is SocketException s => s.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "connection refused",
            SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => $"host not found ({s.Message})",
            _ => s.Message,
        },
        _ => e.GetBaseException().Message,
    };

    private static string Excerpt(string body)
    {
        var oneLine = body.ReplaceLineEndings(" ").Trim();
        return oneLine.Length == 0 ? "(empty body)" : oneLine.Length > 200 ? oneLine[..200] + "…" : oneLine;
    }
}
