using System.Globalization;
using Pipeline.Proxy;

namespace Pipeline.Forecasting;

/// <summary>The PromQL query of a service's request rate: the built-in one from the proxy's metrics, or the user's, with its placeholders filled.</summary>
public static class RequestRateQuery
{
    /// <summary>
    /// HAProxy's built-in exporter (the proxy template's <c>metrics</c> frontend) as Pipeline's Prometheus scrapes it: the
    /// service's backends (<c>{service}_{n}</c>, one per route) in the configured proxy container, requests per second
    /// over the window. <c>max without (instance)</c> folds the same container seen on two networks into one.
    /// </summary>
    public const string HaproxyDefault =
        "sum(max without (instance) (rate(haproxy_backend_http_requests_total{container=\"${proxy_container}\",proxy=~\"${service}_[0-9]+\"}[${window}])))";

    /// <summary>
    /// nginx's per-route counter (the proxy template's <c>/metrics</c> on the same port) as Pipeline's Prometheus scrapes
    /// it: every route, colour and status class of the service in the configured proxy container, requests per second
    /// over the window.
    /// </summary>
    public const string NginxDefault =
        "sum(max without (instance) (rate(pipeline_route_requests_total{container=\"${proxy_container}\",service=\"${service}\"}[${window}])))";

    /// <summary>The built-in query for a proxy kind: the request counters its built-in template serves.</summary>
    public static string DefaultFor(ProxyKind proxyKind)
    {
        ArgumentNullException.ThrowIfNull(proxyKind);
        return proxyKind == ProxyKind.Nginx ? NginxDefault : HaproxyDefault;
    }

    /// <summary>Replaces <c>${service}</c> and <c>${proxy_container}</c>; <c>${window}</c> stays for <see cref="WithWindow"/>.</summary>
    public static string Expand(string query, string service, string proxyContainer)
    {
        ArgumentNullException.ThrowIfNull(query);
        return query
            .Replace("${service}", service, StringComparison.Ordinal)
            .Replace("${proxy_container}", proxyContainer, StringComparison.Ordinal);
    }

    /// <summary>Replaces <c>${window}</c> with the window in seconds, e.g. <c>3600s</c>.</summary>
    public static string WithWindow(string query, TimeSpan window)
    {
        ArgumentNullException.ThrowIfNull(query);
        return query.Replace("${window}", ((long)window.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s", StringComparison.Ordinal);
    }
}
