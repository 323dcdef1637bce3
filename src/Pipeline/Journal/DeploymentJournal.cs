using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.Journal;

/// <summary>
/// The write-ahead log of one service's running deploy, persisted in the service registry under
/// <c>{prefix}/journal/{service}/{sequence}</c>: a stage records the undo of a change before it makes it.
/// A journal left behind by a run that died is found and unwound by the next run (or <c>--target=Rollback</c>).
/// </summary>
public sealed class DeploymentJournal(IServiceRegistry registry, string prefix, string service)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _prefix = $"{prefix}/journal/{service}/";

    /// <summary>Persists an undo step; only then may the caller make the change.</summary>
    public async Task RecordAsync(UndoStep step, CancellationToken ct = default)
    {
        var existing = await registry.GetPrefixAsync(_prefix, ct);
        var next = existing.Count == 0 ? 1 : existing.Keys.Max(k => int.Parse(k[_prefix.Length..])) + 1;
        await registry.PutAsync($"{_prefix}{next:D6}", JsonSerializer.Serialize(step, Json), null, ct);
    }

    /// <summary>The recorded steps in the order they were recorded, with their keys.</summary>
    public async Task<IReadOnlyList<(string Key, UndoStep Step)>> ReadAsync(CancellationToken ct = default)
    {
        var entries = await registry.GetPrefixAsync(_prefix, ct);
        return entries.OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => (e.Key, JsonSerializer.Deserialize<UndoStep>(e.Value, Json)
                ?? throw new ServiceRegistryException($"Journal entry {e.Key} is not an undo step: {e.Value}")))
            .ToList();
    }

    /// <summary>Forgets one step (after it ran).</summary>
    public Task RemoveAsync(string key, CancellationToken ct = default) => registry.DeleteAsync(key, ct);

    /// <summary>Forgets every step: the deploy committed and there is nothing left to undo.</summary>
    public Task ClearAsync(CancellationToken ct = default) => registry.DeletePrefixAsync(_prefix, ct);
}
