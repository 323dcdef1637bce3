using Pipeline.Locking;
using Pipeline.Registry;

namespace Pipeline.Proxy;

/// <summary>
/// How a deploy changes the shared proxy, consul-template style: the config is rendered from every service's live
/// release in the registry and applied only when it differs from the live one, under the proxy's lock
/// (<c>{prefix}/locks/proxy/{container}</c>), so concurrent deploys of different services never overwrite each
/// other's routes. A rollback restores the proxy the same way. A service whose registry record cannot be used is left
/// out of the config and reported; the other services' routes are rendered as usual.
/// </summary>
/// <param name="proxy">The proxy.</param>
/// <param name="containerName">The proxy's container name: its lock is named after it.</param>
/// <param name="catalog">The registry's releases, and the registry the lock lives in.</param>
/// <param name="deployId">This run's deploy id, recorded in the lock.</param>
/// <param name="lockTtl">The proxy lock's lease.</param>
/// <param name="lockTimeout">How long to wait while another deploy holds the proxy lock.</param>
/// <param name="time">The clock.</param>
/// <param name="warn">Told about each service left out of a rendered config, and why.</param>
public sealed class ProxySwitch(
    IProxy proxy,
    string containerName,
    ServiceCatalog catalog,
    string deployId,
    TimeSpan lockTtl,
    TimeSpan lockTimeout,
    TimeProvider time,
    Action<string>? warn = null)
{
    /// <summary>The proxy this switch drives.</summary>
    public IProxy Proxy { get; } = proxy;

    /// <summary>The proxy's container name.</summary>
    public string ContainerName { get; } = containerName;

    /// <summary>
    /// Takes the proxy's lock (<c>{prefix}/locks/proxy/{container}</c>): one deploy at a time renders, applies and
    /// confirms the shared proxy's config. Dispose the lock to release it.
    /// </summary>
    /// <exception cref="DeploymentLockedException">Another deploy held the proxy lock for the whole timeout.</exception>
    public Task<DeploymentLock> AcquireLockAsync(CancellationToken ct = default) => DeploymentLock.AcquireAsync(
        catalog.Registry,
        catalog.KeyPrefix,
        LockHolder.ForThisProcess($"proxy/{ContainerName}", deployId, lockTtl, time),
        lockTtl,
        lockTimeout,
        time,
        ct: ct);

    /// <summary>
    /// The proxy config for every service's live release in the registry, rendered with the proxy's template. A service
    /// whose record cannot be used (see <see cref="ServiceCatalog.ReadLiveReleasesAsync"/>) or whose route the proxy could
    /// not carry safely (see <see cref="ProxyRouteValidation"/>) is left out and reported; when that service is
    /// <paramref name="required"/> (the one being switched) the render fails instead. <paramref name="colors"/> overrides
    /// the live colour of the services it names.
    /// </summary>
    /// <exception cref="ProxyRouteException">The <paramref name="required"/> service's route cannot be rendered.</exception>
    public async Task<string> RenderFromRegistryAsync(IReadOnlyDictionary<string, string>? colors = null, string? required = null, CancellationToken ct = default)
    {
        var live = await catalog.ReadLiveReleasesAsync(colors, ct);
        var problems = live.Problems.ToList();
        var routes = new List<ProxyRoute>();
        var routed = new Dictionary<(string Host, string Prefix), string>();
        foreach (var release in live.Releases)
        {
            var route = new ProxyRoute(release.Service, release.Route, release.HostName, release.Color, release.Version, [new UpstreamEndpoint(release.Address, release.Port)]);
            try
            {
                ProxyRouteValidation.Validate([route]);
            }
            catch (ArgumentException e)
            {
                problems.Add($"{release.Service}: {e.Message}");
                continue;
            }

            if (!routed.TryAdd((route.HostName?.ToLowerInvariant() ?? "", route.PathPrefix), route.Service))
            {
                var host = route.HostName is null ? "any host" : $"host '{route.HostName}'";
                problems.Add($"{release.Service}: path prefix '{route.PathPrefix}' for {host} is already routed to {routed[(route.HostName?.ToLowerInvariant() ?? "", route.PathPrefix)]}");
                continue;
            }

            routes.Add(route);
        }

        foreach (var problem in problems)
        {
            if (required is not null && problem.StartsWith($"{required}: ", StringComparison.Ordinal))
            {
                throw new ProxyRouteException($"The route of {problem}");
            }

            warn?.Invoke($"Left out of the {Proxy.Kind} config: the route of {problem}. The other services' routes are rendered as usual.");
        }

        return Proxy.Render(routes);
    }

    /// <summary>The proxy config for every service's live release in the registry (see the overload).</summary>
    public Task<string> RenderFromRegistryAsync(CancellationToken ct) => RenderFromRegistryAsync(null, null, ct);

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
    /// Puts the proxy back after a switch, under its lock, and says what it did. When the proxy still runs
    /// <paramref name="previous"/>, nothing. Otherwise the config is rendered again from the registry as it is now (the
    /// newer undo steps have put this service's keys back), so routes other services switched in the meantime stay.
    /// Only when the proxy still runs exactly <paramref name="applied"/> (nobody changed it since the switch) and the
    /// render differs from <paramref name="previous"/> (this run's template is not the one that rendered it) is
    /// <paramref name="previous"/> restored verbatim, after <paramref name="checkVerbatim"/> and the proxy's validator.
    /// </summary>
    public async Task<string> RestoreAsync(
        string previous,
        string? applied,
        Func<string, CancellationToken, Task> checkVerbatim,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(checkVerbatim);
        await using var proxyLock = await AcquireLockAsync(ct);
        var live = await Proxy.ReadLiveConfigAsync(ct);
        if (live is null)
        {
            return "left the proxy config alone (the proxy container has no config: it is gone)";
        }

        if (live == previous)
        {
            return "the proxy still ran the previous config";
        }

        var rendered = await RenderFromRegistryAsync(ct);
        if (applied is not null && live == applied && rendered != previous)
        {
            await checkVerbatim(previous, ct);
            await Proxy.ApplyAsync(previous, ct);
            return "restored the previous proxy config";
        }

        await ApplyIfDifferentAsync(rendered, ct);
        return "restored the proxy config from the registry";
    }
}

/// <summary>A service's route cannot be rendered into the proxy config; the message names the service and what is wrong with its record.</summary>
public sealed class ProxyRouteException(string message) : Exception(message);
