using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.History;

/// <summary>The kinds of <see cref="HistoryRecord"/>.</summary>
public static class HistoryKinds
{
    /// <summary>A deploy that committed (RetireOldRelease wrote it to <c>{prefix}/services/{service}/history/</c>).</summary>
    public const string Deploy = "deploy";

    /// <summary>A deploy that failed and was rolled back, or a dead run's journal unwound by the next run or <c>--target=Rollback</c>.</summary>
    public const string Rollback = "rollback";

    /// <summary>Healing: a small deploy that puts a service back as it should be (replacing dead replicas); written by the healing work.</summary>
    public const string Heal = "heal";

    /// <summary>Scaling: a small deploy that changes how many replicas the live release runs (<c>--target=Scale</c>).</summary>
    public const string Scale = "scale";
}

/// <summary>The values of <see cref="HistoryRecord.Outcome"/>.</summary>
public static class HistoryOutcomes
{
    /// <summary>The deploy committed: the new release is live.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>The deploy failed and every change it made was undone.</summary>
    public const string RolledBack = "rolled-back";

    /// <summary>The deploy failed and some undo steps failed too: they wait in the journal for <c>--target=Rollback</c>.</summary>
    public const string RollbackFailed = "rollback-failed";

    /// <summary>A run that died mid-deploy was unwound by a later run.</summary>
    public const string Recovered = "recovered";

    /// <summary>A healing run put the service back.</summary>
    public const string Healed = "healed";

    /// <summary>A scaling run changed the live release's replicas.</summary>
    public const string Scaled = "scaled";

    /// <summary>A heal on a swarm replaced the release's tasks (which cannot be undone), but not all of the new ones answer.</summary>
    public const string HealFailed = "heal-failed";
}

/// <summary>One thing that happened to a service: a deploy, a rollback, a heal or a scaling.</summary>
/// <param name="Kind">One of <see cref="HistoryKinds"/>.</param>
/// <param name="DeployId">The run it belongs to.</param>
/// <param name="Version">The version deployed (or whose deploy was rolled back); null when unknown.</param>
/// <param name="Color">The colour deployed (or that was being deployed); null when none was chosen yet.</param>
/// <param name="PreviousColor">The colour live before; after a rollback, the colour that stays live.</param>
/// <param name="Outcome">One of <see cref="HistoryOutcomes"/>.</param>
/// <param name="Stage">The stage that failed, for a rollback.</param>
/// <param name="StartedAt">When the run started.</param>
/// <param name="FinishedAt">When it finished (a rollback: when the unwind ended).</param>
/// <param name="StageSeconds">How long each stage that ran took, in seconds.</param>
/// <param name="Summary">What happened, in words: the cause and what the rollback did.</param>
public sealed record HistoryRecord(
    string Kind,
    string DeployId,
    string? Version,
    string? Color,
    string? PreviousColor,
    string Outcome,
    string? Stage,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    IReadOnlyDictionary<string, double> StageSeconds,
    string? Summary);

/// <summary>
/// A service's history: committed deploys (<c>{prefix}/services/{service}/history/</c>, written by RetireOldRelease, see
/// <see cref="ServiceCatalog"/>) and the other operations (<c>{prefix}/operations/{service}/{UTC timestamp}-{deploy id}</c>:
/// rollbacks and heals). Operations live outside the service's keys so that a rollback leaves the service's keys exactly
/// as they were before the failed run.
/// </summary>
/// <param name="catalog">Pipeline's keys in the service registry.</param>
public sealed class ServiceHistory(ServiceCatalog catalog)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The prefix of a service's rollbacks and heals.</summary>
    public string OperationsPrefix(string service) => $"{catalog.KeyPrefix}/operations/{service}/";

    /// <summary>Records a rollback or a heal.</summary>
    /// <exception cref="ArgumentException">A deploy is recorded by RetireOldRelease, not here.</exception>
    public Task RecordAsync(string service, HistoryRecord record, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Kind == HistoryKinds.Deploy)
        {
            throw new ArgumentException("Deploys are recorded by the commit point (ServiceCatalog.AppendHistoryAsync).", nameof(record));
        }

        return catalog.Registry.PutAsync(
            $"{OperationsPrefix(service)}{record.FinishedAt.UtcDateTime:yyyyMMddHHmmssfff}-{record.DeployId}",
            JsonSerializer.Serialize(record, Json), null, ct);
    }

    /// <summary>The newest <paramref name="count"/> records of every kind, newest first.</summary>
    public async Task<IReadOnlyList<HistoryRecord>> ReadAsync(string service, int count, CancellationToken ct = default)
    {
        var deploys = (await catalog.GetHistoryAsync(service, count, ct).ConfigureAwait(false))
            .Select(h => new HistoryRecord(
                HistoryKinds.Deploy, h.DeployId, h.Version, h.Color, h.PreviousColor, HistoryOutcomes.Succeeded, null,
                h.StartedAt, h.FinishedAt, h.StageSeconds, null));
        var operations = (await catalog.Registry.GetPrefixAsync(OperationsPrefix(service), ct).ConfigureAwait(false))
            .Select(e => JsonSerializer.Deserialize<HistoryRecord>(e.Value, Json)
                ?? throw new ServiceRegistryException($"History entry {e.Key} is not a history record: {e.Value}"));
        return deploys.Concat(operations)
            .OrderByDescending(r => r.FinishedAt)
            .ThenByDescending(r => r.DeployId, StringComparer.Ordinal)
            .Take(count)
            .ToList();
    }
}
