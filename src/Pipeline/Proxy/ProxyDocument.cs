using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pipeline.Proxy;

/// <summary>
/// The config text Pipeline gives a proxy: a first line <c># pipeline-proxy-state: {json}</c> (continued on
/// <c># pipeline-proxy-state+ </c> lines when long) that records the routes it was
/// rendered from (both colours of each), the config's shape and whether a change of colour can be made at runtime, then the
/// template's output. The proxy's files beside the config (HAProxy's version map, nginx's route state) are derived from it,
/// so the one text says everything the proxy runs, and two texts with the same shape differ only in where traffic goes.
/// </summary>
internal sealed record ProxyDocument(string Text, string? Shape, bool Runtime, IReadOnlyList<ProxyRoute>? Routes)
{
    private const string Marker = "# pipeline-proxy-state: ";
    private const string ContinuationMarker = "# pipeline-proxy-state+ ";
    private const int StateLineLength = 2000;

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
        // nginx refuses a config line (a comment too) over 4 KiB: the state goes over as many lines as it needs.
        var json = JsonSerializer.Serialize(header, Json);
        var lines = new StringBuilder();
        for (var at = 0; at == 0 || at < json.Length; at += StateLineLength)
        {
            lines.Append(at == 0 ? Marker : ContinuationMarker).Append(json.AsSpan(at, Math.Min(StateLineLength, json.Length - at))).Append('\n');
        }

        return lines + body;
    }

    /// <summary>The JSON of a config's state lines (the first line and its continuations), or null when it has none.</summary>
    internal static string? StateJson(string text)
    {
        if (!text.StartsWith(Marker, StringComparison.Ordinal))
        {
            return null;
        }

        var json = new StringBuilder();
        var at = 0;
        var marker = Marker;
        while (at < text.Length && text.AsSpan(at).StartsWith(marker, StringComparison.Ordinal))
        {
            var end = text.IndexOf('\n', at);
            end = end < 0 ? text.Length : end;
            json.Append(text.AsSpan(at + marker.Length, end - at - marker.Length));
            at = end + 1;
            marker = ContinuationMarker;
        }

        return json.ToString();
    }

    /// <summary>Reads the header of a config; a config without one (written by something else) has no shape and no routes.</summary>
    public static ProxyDocument Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (StateJson(text) is not { } json)
        {
            return new ProxyDocument(text, null, false, null);
        }

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
