using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Pipeline.Proxy;

/// <summary>
/// Checks every value of a route before it can reach a proxy config. Only characters that are inert in both
/// nginx and HAProxy syntax pass: never <c>;</c>, <c>{</c>, <c>}</c>, <c>#</c>, <c>%</c>, quotes, spaces or newlines.
/// </summary>
public static partial class ProxyRouteValidation
{
    /// <summary>Checks a list of routes; throws <see cref="ArgumentException"/> naming the route and the bad value.</summary>
    public static void Validate(IReadOnlyList<ProxyRoute> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        var seen = new HashSet<(string Host, string Prefix)>();
        for (var i = 0; i < routes.Count; i++)
        {
            var route = routes[i] ?? throw new ArgumentException($"Route {i} is null.", nameof(routes));
            Validate(route, i);
            var key = (route.HostName?.ToLowerInvariant() ?? "", route.PathPrefix);
            if (!seen.Add(key))
            {
                var host = route.HostName is null ? "any host" : $"host '{route.HostName}'";
                throw new ArgumentException($"Route {i} ({route.Service}): path prefix '{route.PathPrefix}' for {host} is already routed by an earlier route; each host and prefix can go to one service only.", nameof(routes));
            }
        }
    }

    private static void Validate(ProxyRoute route, int index)
    {
        var what = $"Route {index}";
        if (route.Service is null || !ServicePattern().IsMatch(route.Service))
        {
            throw Bad(what, "service name", route.Service, "1-63 lowercase letters, digits or '-', starting with a letter or digit");
        }

        what = $"Route {index} ({route.Service})";
        if (route.PathPrefix is null || !PathPrefixPattern().IsMatch(route.PathPrefix))
        {
            throw Bad(what, "path prefix", route.PathPrefix, "'/' followed by letters, digits, '.', '_', '~', '-' or '/'");
        }

        if (route.HostName is not null && !IsHostName(route.HostName))
        {
            throw Bad(what, "host name", route.HostName, "a DNS name such as api.example.com (letters, digits, '-' and dots; no port, no wildcard)");
        }

        if (route.Color is null || !ColorPattern().IsMatch(route.Color))
        {
            throw Bad(what, "colour", route.Color, "1-32 lowercase letters, digits or '-', starting with a letter or digit");
        }

        if (route.Version is null || !VersionPattern().IsMatch(route.Version))
        {
            throw Bad(what, "version", route.Version, "1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit");
        }

        ValidateUpstreams(what, route.Upstreams);
        if (route.Standby is { } standby)
        {
            var standbyWhat = $"{what}, standby release";
            if (standby.Color is null || !ColorPattern().IsMatch(standby.Color))
            {
                throw Bad(standbyWhat, "colour", standby.Color, "1-32 lowercase letters, digits or '-', starting with a letter or digit");
            }

            if (standby.Color == route.Color)
            {
                throw new ArgumentException($"{standbyWhat} has the live colour '{route.Color}': the standby release is the other colour.", "routes");
            }

            if (standby.Version is null || !VersionPattern().IsMatch(standby.Version))
            {
                throw Bad(standbyWhat, "version", standby.Version, "1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit");
            }

            ValidateUpstreams(standbyWhat, standby.Upstreams);
        }
    }

    private static void ValidateUpstreams(string what, IReadOnlyList<UpstreamEndpoint>? upstreams)
    {
        if (upstreams is null || upstreams.Count == 0)
        {
            throw new ArgumentException($"{what} has no upstreams: a route needs at least one address:port to send requests to.", "routes");
        }

        foreach (var upstream in upstreams)
        {
            if (upstream is null)
            {
                throw new ArgumentException($"{what} has a null upstream.", "routes");
            }

            if (!IsIpAddress(upstream.Address))
            {
                throw Bad(what, "upstream address", upstream.Address, "an IP address such as 172.18.0.5 (host names are not resolved by the proxy)");
            }

            if (upstream.Port is < 1 or > 65535)
            {
                throw new ArgumentException($"{what}: upstream port {upstream.Port} (for {upstream.Address}) is out of range: use 1-65535.", "routes");
            }
        }
    }

    /// <summary>True for a version the proxy config may carry (it goes into a response header): 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit.</summary>
    public static bool IsVersion(string? value) => value is not null && VersionPattern().IsMatch(value);

    /// <summary>True for a DNS host name (labels of letters, digits and '-', separated by dots, at most 253 characters).</summary>
    public static bool IsHostName(string? value) => value is { Length: > 0 and <= 253 } && HostNamePattern().IsMatch(value);

    /// <summary>True for an IPv4 address in dotted-quad form or an IPv6 address without a zone.</summary>
    public static bool IsIpAddress(string? value)
    {
        if (value is null || value.Length > 45)
        {
            return false;
        }

        if (Ipv4Pattern().IsMatch(value))
        {
            return value.Split('.').All(part => int.Parse(part, System.Globalization.CultureInfo.InvariantCulture) <= 255 && (part.Length == 1 || part[0] != '0'));
        }

        return Ipv6Chars().IsMatch(value)
            && IPAddress.TryParse(value, out var ip)
            && ip.AddressFamily == AddressFamily.InterNetworkV6;
    }

    private static ArgumentException Bad(string what, string field, string? value, string expected)
    {
        var shown = value is null ? "null" : $"'{value.ReplaceLineEndings("\\n")}'";
        return new ArgumentException($"{what}: {field} {shown} is not allowed in a proxy config; use {expected}.", "routes");
    }

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,62}\z")]
    private static partial Regex ServicePattern();

    [GeneratedRegex(@"^/[A-Za-z0-9._~/-]*\z")]
    private static partial Regex PathPrefixPattern();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\z")]
    private static partial Regex HostNamePattern();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{0,31}\z")]
    private static partial Regex ColorPattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\z")]
    private static partial Regex VersionPattern();

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){3}\z")]
    private static partial Regex Ipv4Pattern();

    [GeneratedRegex(@"^[0-9A-Fa-f:.]+\z")]
    private static partial Regex Ipv6Chars();
}
