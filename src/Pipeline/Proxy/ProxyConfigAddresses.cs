using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pipeline.Proxy;

/// <summary>
/// The addresses a proxy config sends traffic to, read from its text without knowing the template: when the config
/// starts with the state line Pipeline can write (<c># pipeline-proxy-state: {json}</c>, routes and their live
/// upstreams), those upstreams; otherwise every IP address literal in it. Used before removing a release (never
/// while the live config routes to it) and to check a config restored verbatim (it may route only to releases).
/// </summary>
public static partial class ProxyConfigAddresses
{
    /// <summary>The IP addresses <paramref name="config"/> routes live traffic to (normalised, e.g. <c>172.18.0.5</c>, <c>fd00::5</c>).</summary>
    public static IReadOnlySet<string> Upstreams(string config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return FromStateLine(config) ?? Literals(config);
    }

    /// <summary>True when <paramref name="config"/> routes to any of <paramref name="addresses"/>.</summary>
    public static bool RoutesTo(string config, IEnumerable<string> addresses)
    {
        var upstreams = Upstreams(config);
        return addresses.Any(a => upstreams.Contains(Normalise(a) ?? a));
    }

    /// <summary>Every IPv4 and IPv6 address literal in the text, normalised.</summary>
    public static IReadOnlySet<string> Literals(string config)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in Ipv4().Matches(config))
        {
            if (Normalise(m.Value) is { } ip)
            {
                found.Add(ip);
            }
        }

        foreach (Match m in Ipv6().Matches(config))
        {
            if (Normalise(m.Groups[1].Value) is { } ip)
            {
                found.Add(ip);
            }
        }

        return found;
    }

    private static HashSet<string>? FromStateLine(string config)
    {
        if (ProxyDocument.StateJson(config) is not { } json)
        {
            return null;
        }

        try
        {
            using var state = JsonDocument.Parse(json);
            var found = new HashSet<string>(StringComparer.Ordinal);
            foreach (var route in state.RootElement.GetProperty("routes").EnumerateArray())
            {
                // Only the live upstreams: a standby release kept disabled in the config takes no traffic.
                foreach (var upstream in route.GetProperty("upstreams").EnumerateArray())
                {
                    var endpoint = upstream.GetString() ?? "";
                    var colon = endpoint.LastIndexOf(':');
                    if (Normalise((colon > 0 ? endpoint[..colon] : endpoint).Trim('[', ']')) is { } ip)
                    {
                        found.Add(ip);
                    }
                }
            }

            return found;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null; // a damaged state line: fall back to the literals, which include every upstream
        }
    }

    private static string? Normalise(string text) =>
        IPAddress.TryParse(text, out var ip) ? ip.ToString() : null;

    [GeneratedRegex(@"(?<![0-9A-Za-z.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])")]
    private static partial Regex Ipv4();

    // At least one colon: "[1]" (a Lua or array index) is no address.
    [GeneratedRegex(@"\[([0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)\]")]
    private static partial Regex Ipv6();
}
