using System.Security.Cryptography;
using System.Text;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;

namespace Pipeline.Snapshots;

/// <summary>
/// Production as one service's deploys see it, in comparable form: its labelled containers (with image and
/// state), volumes, the release network, its swarm services with their running tasks and the swarm's nodes (on a
/// swarm), the proxy container and the hash of its live config, and every registry key of the service (colour,
/// releases, history, journal). Two snapshots are equal when nothing a deploy could change has changed.
/// </summary>
public sealed record ProductionSnapshot(
    string Service,
    IReadOnlyList<string> Containers,
    IReadOnlyList<string> Volumes,
    IReadOnlyList<string> Networks,
    string? ProxyConfigSha256,
    IReadOnlyDictionary<string, string> RegistryKeys)
{
    /// <summary>Its swarm services, each with its running tasks (empty on one engine).</summary>
    public IReadOnlyList<string> Services { get; init; } = [];

    /// <summary>The swarm's nodes with their status and availability (empty on one engine).</summary>
    public IReadOnlyList<string> Nodes { get; init; } = [];

    /// <summary>Captures the snapshot through the release runtime, the registry and the proxy.</summary>
    public static async Task<ProductionSnapshot> CaptureAsync(
        string service,
        string keyPrefix,
        IReleaseRuntime runtime,
        IServiceRegistry registry,
        IProxy proxy,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var onRuntime = await runtime.SnapshotAsync(service, ct);
        var proxyId = await proxy.FindContainerAsync(ct);
        var proxyContainer = proxyId is null ? null : await runtime.Engine.InspectContainerAsync(proxyId, ct);
        var containers = onRuntime.Containers
            .Concat(proxyContainer is null || proxyContainer.Labels.GetValueOrDefault(Labels.Service) == service ? [] : [EngineSnapshot.Describe(proxyContainer)])
            .Distinct()
            .Order(StringComparer.Ordinal)
            .ToList();
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
            onRuntime.Volumes,
            onRuntime.Networks,
            config is null ? null : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(config))),
            keys)
        {
            Services = onRuntime.Services,
            Nodes = onRuntime.Nodes,
        };
    }

    /// <summary>What differs from <paramref name="other"/>, one line per difference; empty when equal.</summary>
    public IReadOnlyList<string> Diff(ProductionSnapshot other)
    {
        var lines = new List<string>();
        DiffLists("container", Containers, other.Containers);
        DiffLists("volume", Volumes, other.Volumes);
        DiffLists("network", Networks, other.Networks);
        DiffLists("service", Services, other.Services);
        DiffLists("node", Nodes, other.Nodes);
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
