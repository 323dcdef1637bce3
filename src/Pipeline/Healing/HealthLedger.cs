using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.Healing;

/// <summary>One instance's run of failed health checks.</summary>
/// <param name="Failures">Consecutive failed checks (one per Heal pass).</param>
/// <param name="LastAnswer">What its health path answered last, e.g. <c>HTTP 500</c> or <c>no answer within 2 s</c>.</param>
/// <param name="FailingSince">When the first of those failures was seen.</param>
public sealed record InstanceHealth(int Failures, string LastAnswer, DateTimeOffset FailingSince);

/// <summary>
/// What Heal remembers between passes, in the service registry beside the service's keys (not inside them, so a
/// deploy's rollback leaves it alone):
/// <list type="bullet">
/// <item><c>{prefix}/health/{service}/instances/{container}</c> — an <see cref="InstanceHealth"/>, while the instance fails</item>
/// <item><c>{prefix}/health/{service}/replacements</c> — the <see cref="ReplacementHistory"/> of the live release</item>
/// <item><c>{prefix}/health/{service}/nodes/{node id}</c> — a <see cref="NodeRecord"/> (on a swarm): the service's recent task failures on the node, and whether Heal drained it</item>
/// </list>
/// Written only while the service's deploy lock is held (through the fenced registry).
/// </summary>
/// <param name="registry">The service registry (fenced by the deploy lock).</param>
/// <param name="keyPrefix">Pipeline's key prefix.</param>
/// <param name="service">The service.</param>
public sealed class HealthLedger(IServiceRegistry registry, string keyPrefix, string service)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The prefix of the service's health keys.</summary>
    public string Prefix => $"{keyPrefix}/health/{service}/";

    /// <summary>The key of an instance's failures.</summary>
    public string InstanceKey(string container) => $"{Prefix}instances/{container}";

    /// <summary>The key of the live release's replacements.</summary>
    public string ReplacementsKey => $"{Prefix}replacements";

    /// <summary>Every failing instance's record, by container name; a record that cannot be read counts as none.</summary>
    public async Task<IReadOnlyDictionary<string, InstanceHealth>> ReadInstancesAsync(CancellationToken ct = default)
    {
        var found = new Dictionary<string, InstanceHealth>(StringComparer.Ordinal);
        foreach (var (key, value) in await registry.GetPrefixAsync($"{Prefix}instances/", ct).ConfigureAwait(false))
        {
            if (TryRead<InstanceHealth>(value) is { } health)
            {
                found[key[$"{Prefix}instances/".Length..]] = health;
            }
        }

        return found;
    }

    /// <summary>Records a failed check of <paramref name="container"/>.</summary>
    public Task PutInstanceAsync(string container, InstanceHealth health, CancellationToken ct = default) =>
        registry.PutAsync(InstanceKey(container), JsonSerializer.Serialize(health, Json), null, ct);

    /// <summary>Forgets <paramref name="container"/>'s failures (it answered again, or it is gone).</summary>
    public Task ForgetInstanceAsync(string container, CancellationToken ct = default) => registry.DeleteAsync(InstanceKey(container), ct);

    /// <summary>The live release's replacements, or null.</summary>
    public async Task<ReplacementHistory?> ReadReplacementsAsync(CancellationToken ct = default) =>
        TryRead<ReplacementHistory>(await registry.GetAsync(ReplacementsKey, ct).ConfigureAwait(false));

    /// <summary>Records the live release's replacements.</summary>
    public Task PutReplacementsAsync(ReplacementHistory history, CancellationToken ct = default) =>
        registry.PutAsync(ReplacementsKey, JsonSerializer.Serialize(history, Json), null, ct);

    /// <summary>The key of a node's record.</summary>
    public string NodeKey(string nodeId) => $"{Prefix}nodes/{nodeId}";

    /// <summary>Every node's record, by node id; a record that cannot be read counts as none.</summary>
    public async Task<IReadOnlyDictionary<string, NodeRecord>> ReadNodesAsync(CancellationToken ct = default)
    {
        var found = new Dictionary<string, NodeRecord>(StringComparer.Ordinal);
        foreach (var (key, value) in await registry.GetPrefixAsync($"{Prefix}nodes/", ct).ConfigureAwait(false))
        {
            if (TryRead<NodeRecord>(value) is { } record)
            {
                found[key[$"{Prefix}nodes/".Length..]] = record;
            }
        }

        return found;
    }

    /// <summary>Records what Heal knows about a node.</summary>
    public Task PutNodeAsync(NodeRecord record, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return registry.PutAsync(NodeKey(record.NodeId), JsonSerializer.Serialize(record, Json), null, ct);
    }

    /// <summary>Forgets a node (no recent failure, not drained by Heal).</summary>
    public Task ForgetNodeAsync(string nodeId, CancellationToken ct = default) => registry.DeleteAsync(NodeKey(nodeId), ct);

    private static T? TryRead<T>(string? json)
        where T : class
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
