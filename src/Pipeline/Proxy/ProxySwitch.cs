using Pipeline.Locking;
using Pipeline.Registry;

namespace Pipeline.Proxy;

/// <summary>
/// How a deploy changes the shared proxy, consul-template style: the config is rendered from every service's live
/// release in the registry (with the service's other registered release beside it, disabled, so that making either
/// live is a runtime change) and applied under the proxy's lock (<c>{prefix}/locks/proxy/{container}</c>), so concurrent
/// deploys of different services never overwrite each other's routes. The proxy changes only what differs from what
/// it runs: a colour switch at runtime, a new set of routes by a seamless reload. A rollback restores the proxy the
/// same way. A service whose registry record cannot be used is left out of the config and reported; the other
/// services' routes are rendered as usual.
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
    /// The proxy config for every service's live release in the registry, rendered with the proxy's template, every
    /// replica an upstream. A release of the other colour registered before the live one (the colour a switch just left,
    /// until it is retired) stays beside it as the standby; one registered after it (a deploy not switched yet) does not,
    /// so the config before a switch, and after its rollback, is what it was before the deploy. A service whose record cannot be used (see <see cref="ServiceCatalog.ReadLiveReleasesAsync"/>) or whose route the proxy could
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
            var route = RouteOf(release, live.Standbys?.GetValueOrDefault(release.Service));
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
    /// The route of a live release, every replica an upstream, with <paramref name="other"/> (the service's release of the
    /// other colour) as its standby when it was registered before the live one (see <see cref="RenderFromRegistryAsync(IReadOnlyDictionary{string, string}?, string?, CancellationToken)"/>).
    /// </summary>
    public static ProxyRoute RouteOf(ReleaseRecord live, ReleaseRecord? other)
    {
        ArgumentNullException.ThrowIfNull(live);
        return new ProxyRoute(live.Service, live.Route, live.HostName, live.Color, live.Version, Upstreams(live))
        {
            Standby = other is not null && other.Color != live.Color && other.RegisteredAt < live.RegisteredAt
                ? new StandbyRelease(other.Color, other.Version, Upstreams(other))
                : null,
        };
    }

    /// <summary>Every replica of <paramref name="release"/> as an upstream.</summary>
    public static List<UpstreamEndpoint> Upstreams(ReleaseRecord release) =>
        [.. release.AllEndpoints.Select(e => new UpstreamEndpoint(e.Address, e.Port))];

    /// <summary>
    /// Makes the proxy run <paramref name="config"/>: what differs from what it runs is changed (at runtime when only
    /// where traffic goes differs; the proxy validates anything else first and keeps the live config when it is
    /// rejected), and nothing when nothing differs. The running proxy is compared with it, not only its file: a run
    /// killed between a runtime change and the file write is put right too. Call it holding the proxy lock.
    /// </summary>
    public async Task<ProxyChange> ApplyIfDifferentAsync(string config, CancellationToken ct = default)
    {
        await Proxy.ReadLiveConfigAsync(ct);
        return await Proxy.ApplyAsync(config, ct);
    }

    /// <summary>
    /// <see cref="ApplyIfDifferentAsync"/>, calling <paramref name="changed"/> as soon as the proxy answers the new way
    /// (after the runtime change, before the file is written; or once the reloaded config serves).
    /// </summary>
    public Task<ProxyChange> ApplyAsync(string config, Action<ProxyChange> changed, CancellationToken ct = default) =>
        Proxy.ApplyAsync(config, changed, ct);

    /// <summary>
    /// Makes the proxy say what the registry says now, under the proxy's lock (e.g. once a retired colour is deregistered:
    /// its member becomes a placeholder, at runtime), so that the live config keeps rendering the same as the registry.
    /// </summary>
    public async Task<ProxyChange> SyncWithRegistryAsync(CancellationToken ct = default)
    {
        await using var proxyLock = await AcquireLockAsync(ct);
        return await ApplyIfDifferentAsync(await RenderFromRegistryAsync(ct), ct);
    }

    /// <summary>
    /// Puts the proxy back after a switch, under its lock, and says what it did. When the proxy's file still says
    /// <paramref name="previous"/>, only what runs is compared with it (a run killed between a runtime change and the
    /// file write leaves the file behind). Otherwise the config is rendered again from the registry as it is now (the
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
            return await Proxy.ApplyAsync(previous, ct) == ProxyChange.None
                ? "the proxy still ran the previous config"
                : "the proxy's file still held the previous config; put what it runs back to it (at runtime)";
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
