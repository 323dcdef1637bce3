using System.Text.Json;

namespace Pipeline.Registry;

/// <summary>A release as registered in the service registry, the way Registrator would.</summary>
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
    DateTimeOffset RegisteredAt);

/// <summary>A service's live release and its other registered release, if any.</summary>
public sealed record ServedReleases(ReleaseRecord Live, ReleaseRecord? Standby);

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

    /// <summary>The live release of every service in the registry, ordered by service name.</summary>
    public async Task<IReadOnlyList<ReleaseRecord>> GetLiveReleasesAsync(CancellationToken ct = default) =>
        [.. (await GetServedReleasesAsync(ct).ConfigureAwait(false)).Select(s => s.Live)];

    /// <summary>
    /// Every service's live release, with its other registered release (the colour that is not live: the one being
    /// deployed before the switch, or the one being retired after it), ordered by service name.
    /// </summary>
    public async Task<IReadOnlyList<ServedReleases>> GetServedReleasesAsync(CancellationToken ct = default)
    {
        var keys = await Registry.GetPrefixAsync($"{KeyPrefix}/services/", ct).ConfigureAwait(false);
        var served = new List<ServedReleases>();
        foreach (var (key, color) in keys.Where(k => k.Key.EndsWith("/color", StringComparison.Ordinal)))
        {
            var service = key[$"{KeyPrefix}/services/".Length..^"/color".Length];
            if (keys.TryGetValue(ReleaseKey(service, color), out var json))
            {
                var others = $"{KeyPrefix}/services/{service}/releases/";
                var standby = keys
                    .Where(k => k.Key.StartsWith(others, StringComparison.Ordinal) && k.Key != ReleaseKey(service, color))
                    .OrderBy(k => k.Key, StringComparer.Ordinal)
                    .Select(k => Deserialize<ReleaseRecord>(k.Value))
                    .FirstOrDefault();
                served.Add(new ServedReleases(Deserialize<ReleaseRecord>(json), standby));
            }
        }

        return [.. served.OrderBy(r => r.Live.Service, StringComparer.Ordinal)];
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
