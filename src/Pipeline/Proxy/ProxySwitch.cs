using Pipeline.Locking;
using Pipeline.Registry;

namespace Pipeline.Proxy;

/// <summary>
/// How a deploy changes the shared proxy, consul-template style: the config is rendered from every service's live
/// release in the registry and applied only when it differs from the live one, under the proxy's lock
/// (<c>{prefix}/locks/proxy/{container}</c>), so concurrent deploys of different services never overwrite each
/// other's routes. A rollback restores the proxy the same way.
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

    /// <summary>The proxy config for every service's live release in the registry, rendered with the proxy's template.</summary>
    public async Task<string> RenderFromRegistryAsync(CancellationToken ct = default) =>
        Proxy.Render((await catalog.GetLiveReleasesAsync(ct))
            .Select(r => new ProxyRoute(r.Service, r.Route, r.HostName, r.Color, r.Version, [new UpstreamEndpoint(r.Address, r.Port)]))
            .ToList());

    /// <summary>
    /// Applies <paramref name="config"/> when it differs from the live one (the proxy validates it first and keeps
    /// the live one when it is rejected). Call it holding the proxy lock.
    /// </summary>
    public async Task ApplyIfDifferentAsync(string config, CancellationToken ct = default)
    {
        if (await Proxy.ReadLiveConfigAsync(ct) != config)
        {
            await Proxy.ApplyAsync(config, ct);
        }
    }

    /// <summary>
    /// Puts the proxy back under its lock: <paramref name="exactConfig"/> when given, else the config rendered from the
    /// registry as it is now (so routes other services switched in the meantime stay); applied only when it differs.
    /// </summary>
    public async Task RestoreAsync(string? exactConfig, CancellationToken ct = default)
    {
        await using var proxyLock = await AcquireLockAsync(ct);
        await ApplyIfDifferentAsync(exactConfig ?? await RenderFromRegistryAsync(ct), ct);
    }
}
