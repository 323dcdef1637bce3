namespace Pipeline.Metrics;

/// <summary>Reading from Prometheus failed; the message names the server, the query and what went wrong.</summary>
public abstract class PrometheusException : Exception
{
    private protected PrometheusException(Uri server, string query, string message, Exception? inner = null)
        : base(message, inner)
    {
        Server = server;
        Query = query;
    }

    /// <summary>The Prometheus that was asked.</summary>
    public Uri Server { get; }

    /// <summary>The PromQL query.</summary>
    public string Query { get; }
}

/// <summary>Prometheus did not answer: connection refused, host not found, or no answer in time.</summary>
public sealed class PrometheusUnreachableException(Uri server, string query, string reason, Exception? inner = null)
    : PrometheusException(server, query, $"Prometheus at {server} did not answer ({reason}) to the query {query}.", inner)
{
    /// <summary>Why there was no answer, e.g. <c>connection refused</c>.</summary>
    public string Reason { get; } = reason;
}

/// <summary>Prometheus answered with an error (a query it cannot parse, a timeout on its side), or with something that is not its API's JSON.</summary>
public sealed class PrometheusQueryException(Uri server, string query, int statusCode, string? errorType, string error)
    : PrometheusException(server, query, $"Prometheus at {server} answered {statusCode}{(errorType is null ? "" : $" {errorType}")} to the query {query}: {error.TrimEnd('.', ' ')}.")
{
    /// <summary>The HTTP status code of the answer.</summary>
    public int StatusCode { get; } = statusCode;

    /// <summary>Prometheus' errorType (e.g. <c>bad_data</c>, <c>timeout</c>), when it said one.</summary>
    public string? ErrorType { get; } = errorType;

    /// <summary>Prometheus' error text, or an excerpt of a body that was not its API's JSON.</summary>
    public string Error { get; } = error;
}

/// <summary>The query's result is not the shape the caller needs (a matrix, a vector, one series).</summary>
public sealed class PrometheusResultShapeException(Uri server, string query, string problem)
    : PrometheusException(server, query, $"The query {query} on Prometheus at {server} cannot be used: {problem}.")
{
    /// <summary>What is wrong with the result.</summary>
    public string Problem { get; } = problem;
}

/// <summary>The query returned no data where some is needed.</summary>
public sealed class PrometheusEmptyResultException(Uri server, string query, string when)
    : PrometheusException(server, query, $"The query {query} on Prometheus at {server} returned no data {when}.")
{
    /// <summary>The instant or range that was asked for, in words.</summary>
    public string When { get; } = when;
}
