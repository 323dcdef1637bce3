using System.Security.Cryptography;
using System.Text;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;

namespace Pipeline.Snapshots;

/// <summary>
/// Production as one service's deploys see it, in comparable form: its labelled containers (with image and
/// state), volumes, the pipeline network, the proxy container and the hash of its live config, and every
/// registry key of the service (colour, releases, history, journal). Two snapshots are equal when nothing
/// a deploy could change has changed.
/// </summary>
public sealed record ProductionSnapshot(
    string Service,
    IReadOnlyList<string> Containers,
    IReadOnlyList<string> Volumes,
    IReadOnlyList<string> Networks,
    string? ProxyConfigSha256,
    IReadOnlyDictionary<string, string> RegistryKeys)
{
    /// <summary>Captures the snapshot through the production engine, the registry and the proxy.</summary>
    public static async Task<ProductionSnapshot> CaptureAsync(
        string service,
        string keyPrefix,
        string network,
        IDockerEngine production,
        IServiceRegistry registry,
        IProxy proxy,
        CancellationToken ct = default)
    {
        var labelled = await production.ListContainersAsync(new Dictionary<string, string> { [Labels.Service] = service }, ct);
        var proxyId = await proxy.FindContainerAsync(ct);
        var proxyContainer = proxyId is null ? null : await production.InspectContainerAsync(proxyId, ct);
        var containers = labelled.Append(proxyContainer).OfType<ContainerInfo>()
            .DistinctBy(c => c.Id)
            .Select(c => $"{c.Name} {c.Id[..12]} image={c.ImageId} state={c.State} color={c.Labels.GetValueOrDefault(Labels.Color) ?? "-"} version={c.Labels.GetValueOrDefault(Labels.Version) ?? "-"}")
            .Order(StringComparer.Ordinal)
            .ToList();
        var volumes = (await production.ListVolumesAsync(new Dictionary<string, string> { [Labels.Service] = service }, ct))
            .Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
        var networks = (await production.ListNetworksAsync(new Dictionary<string, string>(), ct))
            .Where(n => n.Name == network || n.Labels.GetValueOrDefault(Labels.Service) == service)
            .Select(n => $"{n.Name} {n.Id[..12]}").Order(StringComparer.Ordinal).ToList();
        var config = proxyId is null ? null : await proxy.ReadLiveConfigAsync(ct);
        var keys = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var prefix in new[] { $"{keyPrefix}/services/{service}/", $"{keyPrefix}/journal/{service}/" })
        {
            foreach (var (key, value) in await registry.GetPrefixAsync(prefix, ct))
            {
                keys[key] = value;
            }
        }

        return new ProductionSnapshot(
            service,
            containers,
            volumes,
            networks,
            config is null ? null : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(config))),
            keys);
    }

    /// <summary>What differs from <paramref name="other"/>, one line per difference; empty when equal.</summary>
    public IReadOnlyList<string> Diff(ProductionSnapshot other)
    {
        var lines = new List<string>();
        DiffLists("container", Containers, other.Containers);
        DiffLists("volume", Volumes, other.Volumes);
        DiffLists("network", Networks, other.Networks);
        if (ProxyConfigSha256 != other.ProxyConfigSha256)
        {
            lines.Add($"proxy config sha256 {ProxyConfigSha256 ?? "(none)"} -> {other.ProxyConfigSha256 ?? "(none)"}");
        }

        foreach (var key in RegistryKeys.Keys.Union(other.RegistryKeys.Keys).Order(StringComparer.Ordinal))
        {
            var before = RegistryKeys.GetValueOrDefault(key);
            var after = other.RegistryKeys.GetValueOrDefault(key);
            if (before != after)
            {
                lines.Add($"key {key}: {before ?? "(absent)"} -> {after ?? "(absent)"}");
            }
        }

        return lines;

        void DiffLists(string what, IReadOnlyList<string> before, IReadOnlyList<string> after)
        {
            lines.AddRange(before.Except(after).Select(item => $"- {what} {item}"));
            lines.AddRange(after.Except(before).Select(item => $"+ {what} {item}"));
        }
    }
}
