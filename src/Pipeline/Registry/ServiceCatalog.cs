using System.Text.Json;
using Pipeline.Runtime;

namespace Pipeline.Registry;

/// <summary>
/// A release as registered in the service registry, the way Registrator would: every replica in <see cref="Endpoints"/>;
/// <see cref="Address"/>, <see cref="Port"/> and <see cref="ContainerId"/> are the first one's (what records written
/// before replicas held, and what readers of them still find).
/// </summary>
public sealed record ReleaseRecord(
    string Service,
    string Color,
    string Version,
    string Image,
    string? Digest,
    string Address,
    int Port,
    string Route,
    string? HostName,
    string DeployId,
    string ContainerId,
    DateTimeOffset RegisteredAt,
    IReadOnlyList<ReleaseEndpoint>? Endpoints = null,
    int? Replicas = null)
{
    /// <summary>
    /// How many replicas the release should run (<see cref="Replicas"/>, written by deploys, Heal and Scale; for a record
    /// written before it existed, the number of its endpoints). <see cref="Endpoints"/> lists the ones that serve, which
    /// may be fewer while Heal waits to replace one.
    /// </summary>
    public int DesiredReplicas => Replicas is { } replicas and > 0 ? replicas : AllEndpoints.Count;

    /// <summary>Every replica's endpoint: <see cref="Endpoints"/>, or the one <see cref="Address"/>:<see cref="Port"/> of a record written before it existed.</summary>
    public IReadOnlyList<ReleaseEndpoint> AllEndpoints => Endpoints is { Count: > 0 } endpoints ? endpoints : [new ReleaseEndpoint(Address, Port, null, ContainerId)];

    /// <summary>A record for a release that answers at <paramref name="endpoints"/> (the first one fills the single-endpoint fields) and should run <paramref name="replicas"/>.</summary>
    public static ReleaseRecord For(
        string service,
        string color,
        string version,
        string image,
        string? digest,
        IReadOnlyList<ReleaseEndpoint> endpoints,
        string route,
        string? hostName,
        string deployId,
        DateTimeOffset registeredAt,
        int? replicas = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var first = endpoints.Count > 0 ? endpoints[0] : throw new ArgumentException($"Release {service} {color} has no endpoint to register.", nameof(endpoints));
        return new ReleaseRecord(service, color, version, image, digest, first.Address, first.Port, route, hostName, deployId, first.InstanceId ?? "", registeredAt, endpoints, replicas);
    }
}

/// <summary>The live releases a proxy config is rendered from, and the services left out because their records cannot be used.</summary>
/// <param name="Releases">The usable live releases, ordered by service name.</param>
/// <param name="Problems">One line per service left out: "{service}: what is wrong".</param>
/// <param name="Standbys">By service: its other registered release (the colour that is not live), when it has one that can be read.</param>
public sealed record LiveReleases(IReadOnlyList<ReleaseRecord> Releases, IReadOnlyList<string> Problems, IReadOnlyDictionary<string, ReleaseRecord>? Standbys = null);

/// <summary>One finished deploy of a service.</summary>
public sealed record HistoryEntry(
    string DeployId,
    string Version,
    string Color,
    string? PreviousColor,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    IReadOnlyDictionary<string, double> StageSeconds);

/// <summary>
/// Pipeline's key layout in the service registry (documented in the README, stable):
/// <list type="bullet">
/// <item><c>{prefix}/services/{service}/color</c> — the live colour (<c>blue</c> or <c>green</c>)</item>
/// <item><c>{prefix}/services/{service}/releases/{color}</c> — a <see cref="ReleaseRecord"/> as JSON</item>
/// <item><c>{prefix}/services/{service}/history/{UTC timestamp}-{deploy id}</c> — a <see cref="HistoryEntry"/> as JSON</item>
/// <item><c>{prefix}/journal/{service}/{sequence}</c> — the write-ahead journal of the running deploy</item>
/// </list>
/// </summary>
public sealed class ServiceCatalog(IServiceRegistry registry, string prefix)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The registry underneath.</summary>
    public IServiceRegistry Registry { get; } = registry;

    /// <summary>The prefix of every key Pipeline writes.</summary>
    public string KeyPrefix { get; } = prefix;

    /// <summary>The key holding a service's live colour.</summary>
    public string ColorKey(string service) => $"{KeyPrefix}/services/{service}/color";

    /// <summary>The key holding a service's release of one colour.</summary>
    public string ReleaseKey(string service, string color) => $"{KeyPrefix}/services/{service}/releases/{color}";

    /// <summary>The prefix of a service's history entries.</summary>
    public string HistoryPrefix(string service) => $"{KeyPrefix}/services/{service}/history/";

    /// <summary>The live colour of a service, or null before its first deploy.</summary>
    public Task<string?> GetLiveColorAsync(string service, CancellationToken ct = default) =>
        Registry.GetAsync(ColorKey(service), ct);

    /// <summary>The registered release of one colour, or null.</summary>
    public async Task<ReleaseRecord?> GetReleaseAsync(string service, string color, CancellationToken ct = default) =>
        await Registry.GetAsync(ReleaseKey(service, color), ct) is { } json ? Deserialize<ReleaseRecord>(json) : null;

    /// <summary>Registers a release.</summary>
    public Task PutReleaseAsync(ReleaseRecord release, CancellationToken ct = default) =>
        Registry.PutAsync(ReleaseKey(release.Service, release.Color), JsonSerializer.Serialize(release, Json), null, ct);

    /// <summary>The live release of every service in the registry, ordered by service name; records that cannot be read are left out (see <see cref="ReadLiveReleasesAsync"/>).</summary>
    public async Task<IReadOnlyList<ReleaseRecord>> GetLiveReleasesAsync(CancellationToken ct = default) =>
        (await ReadLiveReleasesAsync(ct: ct)).Releases;

    /// <summary>
    /// The live release of every service in the registry, ordered by service name, and what is wrong with the services
    /// whose live release cannot be used: a colour whose release is missing, a release that is not valid JSON or not a
    /// release this Pipeline can read (a newer format), or one registered under another service or colour. A bad record
    /// affects only its own service. <paramref name="colors"/> overrides the live colour of the services it names (a
    /// switch renders the config it is about to make live). Each live release's service also gets its other registered
    /// release in <see cref="LiveReleases.Standbys"/> (the colour that is not live: the one being deployed before the
    /// switch, or the one being retired after it) when that record can be read.
    /// </summary>
    public async Task<LiveReleases> ReadLiveReleasesAsync(IReadOnlyDictionary<string, string>? colors = null, CancellationToken ct = default)
    {
        var keys = await Registry.GetPrefixAsync($"{KeyPrefix}/services/", ct);
        var liveColors = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, color) in keys.Where(k => k.Key.EndsWith("/color", StringComparison.Ordinal)))
        {
            var service = key[$"{KeyPrefix}/services/".Length..^"/color".Length];
            if (!service.Contains('/', StringComparison.Ordinal))
            {
                liveColors[service] = color;
            }
        }

        foreach (var (service, color) in colors ?? new Dictionary<string, string>())
        {
            liveColors[service] = color;
        }

        var live = new List<ReleaseRecord>();
        var problems = new List<string>();
        foreach (var (service, color) in liveColors)
        {
            var key = ReleaseKey(service, color);
            if (!keys.TryGetValue(key, out var json))
            {
                problems.Add($"{service}: its live colour is '{color}' but {key} holds no release");
                continue;
            }

            ReleaseRecord? release;
            try
            {
                release = JsonSerializer.Deserialize<ReleaseRecord>(json, Json);
            }
            catch (JsonException e)
            {
                problems.Add($"{service}: {key} is not a release this Pipeline can read ({e.Message})");
                continue;
            }

            if (release is null || release.Service != service || release.Color != color)
            {
                problems.Add($"{service}: {key} holds {(release is null ? "no release" : $"a release of {release.Service ?? "no service"} ({release.Color ?? "no colour"})")}");
                continue;
            }

            live.Add(release);
        }

        var standbys = new Dictionary<string, ReleaseRecord>(StringComparer.Ordinal);
        foreach (var release in live)
        {
            var others = $"{KeyPrefix}/services/{release.Service}/releases/";
            foreach (var (key, json) in keys.Where(k => k.Key.StartsWith(others, StringComparison.Ordinal)).OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                var color = key[others.Length..];
                if (color == release.Color || color.Contains('/', StringComparison.Ordinal))
                {
                    continue;
                }

                try
                {
                    if (JsonSerializer.Deserialize<ReleaseRecord>(json, Json) is { } other && other.Service == release.Service && other.Color == color)
                    {
                        standbys[release.Service] = other;
                        break;
                    }
                }
                catch (JsonException)
                {
                    // An unreadable record of the other colour only means no standby member: the live route is unaffected.
                }
            }
        }

        return new LiveReleases(live, problems, standbys);
    }

    /// <summary>Appends a history entry.</summary>
    public Task AppendHistoryAsync(string service, HistoryEntry entry, CancellationToken ct = default) =>
        Registry.PutAsync(
            $"{HistoryPrefix(service)}{entry.FinishedAt.UtcDateTime:yyyyMMddHHmmssfff}-{entry.DeployId}",
            JsonSerializer.Serialize(entry, Json), null, ct);

    /// <summary>The newest history entries of a service, newest first.</summary>
    public async Task<IReadOnlyList<HistoryEntry>> GetHistoryAsync(string service, int count, CancellationToken ct = default)
    {
        var entries = await Registry.GetPrefixAsync(HistoryPrefix(service), ct);
        return entries.OrderByDescending(e => e.Key, StringComparer.Ordinal).Take(count).Select(e => Deserialize<HistoryEntry>(e.Value)).ToList();
    }

    private static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Json) ?? throw new ServiceRegistryException($"A registry value is not a {typeof(T).Name}: {json}");
}
