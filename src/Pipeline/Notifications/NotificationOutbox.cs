using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.Notifications;

/// <summary>An event waiting to be delivered to one webhook (the URL is named by <see cref="WebhookTarget.Id"/>, never stored).</summary>
/// <param name="Notification">What to post.</param>
/// <param name="TargetId">The webhook's id.</param>
/// <param name="Target">The webhook as a log may show it.</param>
/// <param name="CreatedAt">When the event was put in the outbox.</param>
/// <param name="ClaimedBy">The deploy id of the run delivering it now, when not the run that wrote it.</param>
public sealed record OutboxEntry(Notification Notification, string TargetId, string Target, DateTimeOffset CreatedAt, string? ClaimedBy = null);

/// <summary>
/// Events not yet delivered, in the service registry: <c>{prefix}/outbox/{service}/{deployId}/{order}-{event}/{targetId}</c>.
/// An entry is written before the first attempt and deleted once the webhook accepted it (2xx) or refused it for good,
/// so each event is delivered once per webhook, and a run that dies leaves its undelivered events for the next run.
/// </summary>
/// <param name="registry">The service registry.</param>
/// <param name="keyPrefix">Pipeline's key prefix.</param>
/// <param name="service">The service.</param>
public sealed class NotificationOutbox(IServiceRegistry registry, string keyPrefix, string service)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The service's outbox prefix.</summary>
    public string Prefix => $"{keyPrefix}/outbox/{service}/";

    /// <summary>The key of one event for one webhook.</summary>
    public string KeyFor(Notification notification, string targetId) =>
        $"{Prefix}{notification.DeployId}/{NotificationEvents.Order(notification.Event):D2}-{notification.Event}/{targetId}";

    /// <summary>Puts an entry in the outbox; returns its key.</summary>
    public async Task<string> AddAsync(OutboxEntry entry, CancellationToken ct = default)
    {
        var key = KeyFor(entry.Notification, entry.TargetId);
        await registry.PutAsync(key, JsonSerializer.Serialize(entry, Json), null, ct).ConfigureAwait(false);
        return key;
    }

    /// <summary>Every entry with its key and raw value, in delivery order (by deploy, then event).</summary>
    public async Task<IReadOnlyList<(string Key, string Raw, OutboxEntry Entry)>> ListAsync(CancellationToken ct = default)
    {
        var entries = new List<(string, string, OutboxEntry)>();
        foreach (var (key, value) in await registry.GetPrefixAsync(Prefix, ct).ConfigureAwait(false))
        {
            if (Parse(value) is { } entry)
            {
                entries.Add((key, value, entry));
            }
        }

        return entries.OrderBy(e => e.Item3.CreatedAt).ThenBy(e => e.Item1, StringComparer.Ordinal).ToList();
    }

    /// <summary>Claims an entry for <paramref name="deployId"/> if nobody changed it since it was read as <paramref name="raw"/>.</summary>
    public async Task<bool> TryClaimAsync(string key, string raw, OutboxEntry entry, string deployId, CancellationToken ct = default) =>
        await registry.CompareAndSwapAsync(key, raw, JsonSerializer.Serialize(entry with { ClaimedBy = deployId }, Json), null, ct).ConfigureAwait(false);

    /// <summary>Deletes an entry (delivered, or refused for good).</summary>
    public Task RemoveAsync(string key, CancellationToken ct = default) => registry.DeleteAsync(key, ct);

    private static OutboxEntry? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<OutboxEntry>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
