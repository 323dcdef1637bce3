using Pipeline.Locking;
using Pipeline.Registry;

namespace Pipeline.Proxy;

/// <summary>
/// How a deploy changes the shared proxy, consul-template style: the config is rendered from every service's live
/// release in the registry (with the service's other registered release beside it, disabled, so that making either
/// live is a runtime change) and applied under the proxy's lock (<c>{prefix}/locks/proxy/{container}</c>), so concurrent
/// deploys of different services never overwrite each other's routes. The proxy changes only what differs from what
/// it runs: a colour switch at runtime, a new set of routes by a seamless reload. A rollback restores the proxy the
/// same way.
/// </summary>
/// <param name="proxy">The proxy.</param>
/// <param name="containerName">The proxy's container name: its lock is named after it.</param>
/// <param name="catalog">The registry's releases, and the registry the lock lives in.</param>
/// <param name="deployId">This run's deploy id, recorded in the lock.</param>
/// <param name="lockTtl">The proxy lock's lease.</param>
/// <param name="lockTimeout">How long to wait while another deploy holds the proxy lock.</param>
/// <param name="time">The clock.</param>
public sealed class ProxySwitch(
    IProxy proxy,
    string containerName,
    ServiceCatalog catalog,
    string deployId,
    TimeSpan lockTtl,
    TimeSpan lockTimeout,
    TimeProvider time)
{
    /// <summary>The proxy this switch drives.</summary>
    public IProxy Proxy { get; } = proxy;

    /// <summary>
    /// Takes the proxy's lock (<c>{prefix}/locks/proxy/{container}</c>): one deploy at a time renders, applies and
    /// confirms the shared proxy's config. Dispose the lock to release it.
    /// </summary>
    /// <exception cref="DeploymentLockedException">Another deploy held the proxy lock for the whole timeout.</exception>
    public Task<DeploymentLock> AcquireLockAsync(CancellationToken ct = default) => DeploymentLock.AcquireAsync(
        catalog.Registry,
        catalog.KeyPrefix,
        LockHolder.ForThisProcess($"proxy/{containerName}", deployId, lockTtl, time),
        lockTtl,
        lockTimeout,
        time,
        ct: ct);

    /// <summary>
    /// The proxy config for every service's live release in the registry, rendered with the proxy's template. A release
    /// of the other colour registered before the live one (the colour a switch just left, until it is retired) stays
    /// beside it as the standby; one registered after it (a deploy not switched yet) does not, so the config before a
    /// switch, and after its rollback, is what it was before the deploy.
    /// </summary>
    public async Task<string> RenderFromRegistryAsync(CancellationToken ct = default) => Render(await catalog.GetServedReleasesAsync(ct));

    /// <summary>The proxy config for these releases (as <see cref="RenderFromRegistryAsync"/> renders the registry's).</summary>
    public string Render(IReadOnlyList<ServedReleases> served) =>
        Proxy.Render(served
            .Select(s => new ProxyRoute(s.Live.Service, s.Live.Route, s.Live.HostName, s.Live.Color, s.Live.Version, [new UpstreamEndpoint(s.Live.Address, s.Live.Port)])
            {
                Standby = s.Standby is { } standby && standby.Color != s.Live.Color && standby.RegisteredAt < s.Live.RegisteredAt
                    ? new StandbyRelease(standby.Color, standby.Version, [new UpstreamEndpoint(standby.Address, standby.Port)])
                    : null,
            })
            .ToList());

    /// <summary>
    /// <paramref name="served"/> as it is once <paramref name="release"/> is made live: it replaces its service's live
    /// release, which becomes the standby (a service not served yet is added).
    /// </summary>
    public static IReadOnlyList<ServedReleases> WithLive(IReadOnlyList<ServedReleases> served, ReleaseRecord release)
    {
        var others = served.Where(s => s.Live.Service != release.Service);
        var current = served.FirstOrDefault(s => s.Live.Service == release.Service);
        var standby = current is null ? null : current.Live.Color == release.Color ? current.Standby : current.Live;
        return [.. others.Append(new ServedReleases(release, standby)).OrderBy(s => s.Live.Service, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Makes the proxy run <paramref name="config"/>: what differs from what it runs is changed (at runtime when only
    /// where traffic goes differs; the proxy validates anything else first and keeps the live config when it is
    /// rejected), and nothing when nothing differs. Call it holding the proxy lock.
    /// </summary>
    public Task<ProxyChange> ApplyAsync(string config, CancellationToken ct = default) => Proxy.ApplyAsync(config, ct);

    /// <summary>
    /// <see cref="ApplyAsync(string, CancellationToken)"/>, calling <paramref name="changed"/> as soon as the proxy answers the
    /// new way (after the runtime change, before the file is written; or once the reloaded config serves).
    /// </summary>
    public Task<ProxyChange> ApplyAsync(string config, Action<ProxyChange> changed, CancellationToken ct = default) =>
        Proxy.ApplyAsync(config, changed, ct);

    /// <summary>
    /// Puts the proxy back under its lock: <paramref name="exactConfig"/> when given, else the config rendered from the
    /// registry as it is now (so routes other services switched in the meantime stay). The running proxy is compared with
    /// it, not only its file: a run killed between a runtime change and the file write is put right too.
    /// </summary>
    public async Task RestoreAsync(string? exactConfig, CancellationToken ct = default)
    {
        await using var proxyLock = await AcquireLockAsync(ct);
        await Proxy.ReadLiveConfigAsync(ct);
        await ApplyAsync(exactConfig ?? await RenderFromRegistryAsync(ct), ct);
    }

    /// <summary>
    /// Makes the proxy say what the registry says now, under the proxy's lock (e.g. once a retired colour is deregistered:
    /// its member becomes a placeholder, at runtime), so that the live config keeps rendering the same as the registry.
    /// </summary>
    public async Task<ProxyChange> SyncWithRegistryAsync(CancellationToken ct = default)
    {
        await using var proxyLock = await AcquireLockAsync(ct);
        await Proxy.ReadLiveConfigAsync(ct);
        return await ApplyAsync(await RenderFromRegistryAsync(ct), ct);
    }
}
