namespace Pipeline.Proxy;

/// <summary>A config's shape (see <see cref="ProxyTemplate"/>): a hash, and which switch values the template prints.</summary>
internal sealed record ProxyShape(string Hash, bool PrintsLiveValues, bool PrintsMemberAddresses, bool PrintsMemberVersions);

/// <summary>What a template sees (snake_case names in Liquid). Built from validated routes only.</summary>
internal sealed class ProxyTemplateModel
{
    /// <summary>Stands for the live colour, version and upstreams in a shape.</summary>
    public const string LiveMarker = "\u2400live\u2400";

    /// <summary>Stands for a member's address in a shape.</summary>
    public const string AddressMarker = "\u2400address\u2400";

    /// <summary>Stands for a member's version in a shape.</summary>
    public const string VersionMarker = "\u2400version\u2400";

    /// <summary>Where a colour without a release points (never used: the member is disabled).</summary>
    public static readonly UpstreamEndpoint Placeholder = new("127.0.0.1", 9);

    /// <summary>The colours every route has a member for, in this order, whichever is live.</summary>
    private static readonly string[] FixedColors = [Colors.Blue, Colors.Green];

    public required string Kind { get; init; }

    public int Port { get; init; } = ProxyOptions.ContainerPort;

    public int MetricsPort { get; init; } = ProxyOptions.MetricsPort;

    /// <summary>The port to terminate TLS on inside the container (443), or 0 without HTTPS.</summary>
    public int HttpsPort { get; init; }

    /// <summary>The certificate chain and key, one PEM file (HAProxy and nginx read the same layout).</summary>
    public string CertificatePath => Kind == ProxyKind.Haproxy.Name ? HaproxyProxy.CertificateFile : NginxProxy.CertificateFile;

    public int RouteCount => Routes.Count;

    public string MapPath => HaproxyProxy.MapPath;

    public string StatePath => NginxProxy.StatePath;

    public string AdminSocket => NginxProxy.AdminSocket;

    public required IReadOnlyList<Route> Routes { get; init; }

    public required IReadOnlyList<Server> Servers { get; init; }

    /// <summary>The model of validated routes; <paramref name="masked"/> replaces every value a colour switch changes by a marker.</summary>
    public static ProxyTemplateModel From(string kind, IReadOnlyList<ProxyRoute> routes, bool masked = false, bool https = false)
    {
        var ordered = routes
            .Select(r => r with { HostName = r.HostName?.ToLowerInvariant() })
            .OrderByDescending(r => r.PathPrefix.Length)
            .ThenBy(r => r.HostName is null ? 1 : 0)
            .ThenBy(r => r.HostName, StringComparer.Ordinal)
            .ThenBy(r => r.PathPrefix, StringComparer.Ordinal)
            .Select((r, i) => new Route
            {
                Id = $"{r.Service}_{i}",
                Service = r.Service,
                PathPrefix = r.PathPrefix,
                HostName = r.HostName ?? "",
                Color = masked ? LiveMarker : r.Color,
                Version = masked ? LiveMarker : r.Version,
                Upstreams = r.Upstreams.Select(u => masked ? new Upstream { Address = LiveMarker, Port = 0 } : new Upstream { Address = u.Address, Port = u.Port }).ToList(),
                Members = MembersOf(r, masked),
            })
            .ToList();

        var anyHost = ordered.Where(r => r.HostName.Length == 0).ToList();
        var servers = new List<Server> { new() { Name = "_", IsDefault = true, Routes = anyHost } };
        foreach (var host in ordered.Where(r => r.HostName.Length > 0).Select(r => r.HostName).Distinct().Order(StringComparer.Ordinal))
        {
            var own = ordered.Where(r => r.HostName == host).ToList();
            var inherited = anyHost.Where(r => own.All(o => o.PathPrefix != r.PathPrefix));
            servers.Add(new Server { Name = host, IsDefault = false, Routes = ordered.Where(r => own.Contains(r) || inherited.Contains(r)).ToList() });
        }

        return new ProxyTemplateModel { Kind = kind, Routes = ordered, Servers = servers, HttpsPort = https ? ProxyOptions.ContainerHttpsPort : 0 };
    }

    /// <summary>
    /// One member per upstream of each colour: blue and green always (then any other colour the route has), so a switch
    /// keeps the same members and only changes their addresses, states and versions.
    /// </summary>
    private static List<Member> MembersOf(ProxyRoute route, bool masked)
    {
        var releases = new Dictionary<string, (string Version, IReadOnlyList<UpstreamEndpoint> Upstreams)>(StringComparer.Ordinal)
        {
            [route.Color] = (route.Version, route.Upstreams),
        };
        if (route.Standby is { } standby && standby.Color != route.Color)
        {
            releases[standby.Color] = (standby.Version, standby.Upstreams);
        }

        var colors = FixedColors.Concat(releases.Keys.Where(c => !FixedColors.Contains(c)).Order(StringComparer.Ordinal));
        var members = new List<Member>();
        foreach (var color in colors)
        {
            var found = releases.TryGetValue(color, out var release);
            var upstreams = found ? release.Upstreams : [Placeholder];
            for (var i = 0; i < upstreams.Count; i++)
            {
                members.Add(new Member
                {
                    Name = i == 0 ? color : $"{color}_{i + 1}",
                    Color = color,
                    Address = masked ? AddressMarker : upstreams[i].Address,
                    Port = masked ? 0 : upstreams[i].Port,
                    Active = !masked && color == route.Color,
                    Placeholder = !masked && !found,
                    Version = masked ? VersionMarker : found ? release.Version : "none",
                });
            }
        }

        return members;
    }

    internal sealed class Route
    {
        public required string Id { get; init; }
        public required string Service { get; init; }
        public required string PathPrefix { get; init; }
        public required string HostName { get; init; }
        public required string Color { get; init; }
        public required string Version { get; init; }
        public required IReadOnlyList<Upstream> Upstreams { get; init; }
        public required IReadOnlyList<Member> Members { get; init; }
    }

    internal sealed class Upstream
    {
        public required string Address { get; init; }
        public required int Port { get; init; }
        public string Endpoint => Format(Address, Port);
    }

    internal sealed class Member
    {
        public required string Name { get; init; }
        public required string Color { get; init; }
        public required string Address { get; init; }
        public required int Port { get; init; }
        public required bool Active { get; init; }
        public required bool Placeholder { get; init; }
        public required string Version { get; init; }
        public string Endpoint => Format(Address, Port);
    }

    internal sealed class Server
    {
        public required string Name { get; init; }
        public required bool IsDefault { get; init; }
        public required IReadOnlyList<Route> Routes { get; init; }
        public bool HasRoot => Routes.Any(r => r.PathPrefix == "/");
    }

    internal static string Format(string address, int port) => address.Contains(':') ? $"[{address}]:{port}" : $"{address}:{port}";
}
