using Cake.Core.Diagnostics;
using Pipeline.Journal;
using Pipeline.Registry;
using Pipeline.Runtime;

namespace Pipeline.Healing;

/// <summary>
/// The write-ahead part Heal and Scale share: re-register a live release with the endpoints that serve (and the
/// replicas it should run), then render the proxy config from the registry and apply it, each undo recorded first:
/// <c>restore-proxy</c> (rendered again from the registry on undo), then <c>restore-key</c> of the release's record, so
/// an unwind puts the record back before it renders the proxy again. Call it holding the service's deploy lock.
/// </summary>
internal static class ReleaseChange
{
    /// <summary>Registers <paramref name="record"/> with <paramref name="endpoints"/> and <paramref name="replicas"/>, and routes the proxy to them; returns the new record.</summary>
    public static async Task<ReleaseRecord> RegisterAndRouteAsync(
        DeploymentContext context,
        ReleaseRecord record,
        IReadOnlyList<ReleaseEndpoint> endpoints,
        int replicas,
        CancellationToken ct)
    {
        var updated = ReleaseRecord.For(
            record.Service, record.Color, record.Version, record.Image, record.Digest, endpoints, record.Route, record.HostName,
            record.DeployId, context.Time.GetUtcNow(), replicas);
        var proxySwitch = context.ProxySwitch;
        await using var proxyLock = await proxySwitch.AcquireLockAsync(ct);
        var proxyRuns = await proxySwitch.Proxy.FindContainerAsync(ct) is not null;
        var previousConfig = proxyRuns ? await proxySwitch.Proxy.ReadLiveConfigAsync(ct) : null;
        if (previousConfig is not null)
        {
            await context.Journal.RecordAsync(UndoStep.RestoreProxy(previousConfig, appliedConfig: null), ct);
        }

        var key = context.Catalog.ReleaseKey(record.Service, record.Color);
        await context.Journal.RecordAsync(UndoStep.RestoreKey(key, await context.ServiceRegistry.GetAsync(key, ct)), ct);
        await context.Catalog.PutReleaseAsync(updated, ct);

        if (!proxyRuns)
        {
            context.Log.Warning($"The proxy {proxySwitch.ContainerName} is not running: {record.Service} is registered at {string.Join(", ", endpoints)}, and the next deploy's switch starts the proxy with it.");
            return updated;
        }

        var next = await proxySwitch.RenderFromRegistryAsync(null, required: record.Service, ct);
        await proxySwitch.ApplyIfDifferentAsync(next, ct);
        return updated;
    }
}
