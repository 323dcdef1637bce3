using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Proxy;

/// <summary>
/// The config text Pipeline gives a proxy: a first line <c># pipeline-proxy-state: {json}</c> that records the routes it was
/// rendered from (both colours of each), the config's shape and whether a change of colour can be made at runtime, then the
/// template's output. The proxy's files beside the config (HAProxy's version map, nginx's route state) are derived from it,
/// so the one text says everything the proxy runs, and two texts with the same shape differ only in where traffic goes.
/// </summary>
internal sealed record ProxyDocument(string Text, string? Shape, bool Runtime, IReadOnlyList<ProxyRoute>? Routes)
{
    private const string Marker = "# pipeline-proxy-state: ";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The header line followed by the template's output.</summary>
    public static string Compose(ProxyShape shape, bool runtime, IReadOnlyList<ProxyRoute> routes, string body)
    {
        var header = new Header(
            shape.Hash,
            runtime,
            [.. routes.Select(r => new RouteState(
                r.Service,
                r.PathPrefix,
                r.HostName,
                r.Color,
                r.Version,
                [.. r.Upstreams.Select(Endpoint)],
                r.Standby is { } s ? new StandbyState(s.Color, s.Version, [.. s.Upstreams.Select(Endpoint)]) : null))]);
        return Marker + JsonSerializer.Serialize(header, Json) + "\n" + body;
    }

    /// <summary>Reads the header of a config; a config without one (written by something else) has no shape and no routes.</summary>
    public static ProxyDocument Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.StartsWith(Marker, StringComparison.Ordinal))
        {
            return new ProxyDocument(text, null, false, null);
        }

        var end = text.IndexOf('\n', StringComparison.Ordinal);
        var json = end < 0 ? text[Marker.Length..] : text[Marker.Length..end];
        try
        {
            var header = JsonSerializer.Deserialize<Header>(json, Json);
            if (header is null)
            {
                return new ProxyDocument(text, null, false, null);
            }

            var routes = header.Routes.Select(r => new ProxyRoute(r.Service, r.Prefix, r.Host, r.Color, r.Version, [.. r.Upstreams.Select(ParseEndpoint)])
            {
                Standby = r.Standby is { } s ? new StandbyRelease(s.Color, s.Version, [.. s.Upstreams.Select(ParseEndpoint)]) : null,
            }).ToList();
            return new ProxyDocument(text, header.Shape, header.Runtime, routes);
        }
        catch (Exception e) when (e is JsonException or FormatException or NullReferenceException)
        {
            // A damaged header: treat the config as foreign, so the next change reloads it whole.
            return new ProxyDocument(text, null, false, null);
        }
    }

    private static string Endpoint(UpstreamEndpoint u) => ProxyTemplateModel.Format(u.Address, u.Port);

    private static UpstreamEndpoint ParseEndpoint(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0)
        {
            throw new FormatException($"'{endpoint}' is not address:port.");
        }

        return new UpstreamEndpoint(endpoint[..colon].Trim('[', ']'), int.Parse(endpoint[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture));
    }

    private sealed record Header(string Shape, bool Runtime, IReadOnlyList<RouteState> Routes);

    private sealed record RouteState(string Service, string Prefix, string? Host, string Color, string Version, IReadOnlyList<string> Upstreams, StandbyState? Standby);

    private sealed record StandbyState(string Color, string Version, IReadOnlyList<string> Upstreams);
}
