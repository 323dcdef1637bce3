using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;

namespace Pipeline.Journal;

/// <summary>
/// What an undo step may act on, and the questions its checks ask before it acts: the service whose journal is
/// unwound, Pipeline's keys, the production engine and the shared proxy.
/// </summary>
/// <param name="service">The service whose journal is unwound: undo steps act only on what was created for it.</param>
/// <param name="catalog">Pipeline's keys (and the registry writes go to).</param>
/// <param name="production">The production engine.</param>
/// <param name="proxy">The shared proxy's switch.</param>
public sealed class RollbackScope(string service, ServiceCatalog catalog, IDockerEngine production, ProxySwitch proxy)
{
    /// <summary>The service whose journal is unwound.</summary>
    public string Service { get; } = service;

    /// <summary>Pipeline's keys.</summary>
    public ServiceCatalog Catalog { get; } = catalog;

    /// <summary>The registry the undo steps write to.</summary>
    public IServiceRegistry Registry => Catalog.Registry;

    /// <summary>The production engine.</summary>
    public IDockerEngine Production { get; } = production;

    /// <summary>The shared proxy's switch.</summary>
    public ProxySwitch Proxy { get; } = proxy;

    /// <summary>Where releases run (containers or swarm services): <c>remove-release</c> and <c>restore-replicas</c> act through it.</summary>
    /// <value>The default value is null: those steps fail, naming the missing runtime.</value>
    public IReleaseRuntime? Releases { get; init; }

    /// <summary>How long a release being removed may keep answering requests the proxy sent it before the restore.</summary>
    /// <value>The default value is <c>--drain-timeout</c>'s default.</value>
    public TimeSpan DrainTimeout { get; init; } = new Configuration.DeploymentOptions().DrainTimeout;

    /// <summary>The clock the drain is timed with.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The release runtime, or an exception naming why a release step cannot run without it.</summary>
    public IReleaseRuntime RequireReleases(UndoStep step) =>
        Releases ?? throw new InvalidOperationException($"no release runtime was given to the rollback, so {step.Kind} cannot run");

    /// <summary>The prefix of the service's own keys, <c>{prefix}/services/{service}/</c>: the only keys an undo step may write.</summary>
    public string ServiceKeyPrefix => $"{Catalog.KeyPrefix}/services/{Service}/";

    /// <summary>
    /// Refuses unless <paramref name="labels"/> say the resource was created by the step's deploy, with one of
    /// <paramref name="roles"/>, and (when <paramref name="ofThisService"/>) for this service.
    /// </summary>
    /// <exception cref="UndoRefusedException">The labels say otherwise, or the step names no deploy.</exception>
    public void RequireCreatedBy(UndoStep step, string what, IReadOnlyDictionary<string, string> labels, bool ofThisService, params string[] roles)
    {
        if (step.DeployId is null)
        {
            throw new UndoRefusedException($"it names no deploy id, so {what} cannot be checked against its labels (a step written by an older Pipeline, or by hand)");
        }

        var wrong = new List<string>();
        var role = labels.GetValueOrDefault(Labels.Role);
        if (role is null || !roles.Contains(role))
        {
            wrong.Add($"{Labels.Role}={role ?? "(none)"}, not {string.Join(" or ", roles)}");
        }

        if (ofThisService && labels.GetValueOrDefault(Labels.Service) != Service)
        {
            wrong.Add($"{Labels.Service}={labels.GetValueOrDefault(Labels.Service) ?? "(none)"}, not {Service}");
        }

        if (labels.GetValueOrDefault(Labels.DeployId) != step.DeployId)
        {
            wrong.Add($"{Labels.DeployId}={labels.GetValueOrDefault(Labels.DeployId) ?? "(none)"}, not {step.DeployId}");
        }

        if (wrong.Count > 0)
        {
            throw new UndoRefusedException($"{what} is not one Pipeline created for {Service} in deploy {step.DeployId}: its labels say {string.Join("; ", wrong)}");
        }
    }

    /// <summary>The other services the registry routes through the proxy (a live colour with a release), ordered by name.</summary>
    public async Task<IReadOnlyList<string>> OtherRoutedServicesAsync(CancellationToken ct)
    {
        var live = await Catalog.ReadLiveReleasesAsync(ct: ct);
        return [.. live.Releases.Select(r => r.Service).Where(s => s != Service)];
    }

    /// <summary>Why removing <paramref name="container"/> now would take traffic down, or null when nothing routes to it.</summary>
    public async Task<string?> StillRoutedAsync(ContainerInfo container, CancellationToken ct)
    {
        var addresses = container.NetworkAddresses.Values.ToList();
        if (addresses.Count > 0 && await Proxy.Proxy.ReadLiveConfigAsync(ct) is { } config && ProxyConfigAddresses.RoutesTo(config, addresses))
        {
            return $"the proxy's live config still routes to it ({string.Join(", ", addresses)})";
        }

        var live = await Catalog.ReadLiveReleasesAsync(ct: ct);
        return live.Releases.FirstOrDefault(r => r.ContainerId == container.Id || r.AllEndpoints.Any(e => e.InstanceId == container.Id)) is { } release
            ? $"it is the live release of {release.Service} ({release.Color}) in the registry"
            : null;
    }

    /// <summary>Why removing <paramref name="release"/> (answering at <paramref name="addresses"/>) now would take traffic down, or null when nothing routes to it.</summary>
    public async Task<string?> StillRoutedAsync(ReleaseId release, IReadOnlyList<string> addresses, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(release);
        if (addresses.Count > 0 && await Proxy.Proxy.ReadLiveConfigAsync(ct) is { } config && ProxyConfigAddresses.RoutesTo(config, addresses))
        {
            return $"the proxy's live config still routes to it ({string.Join(", ", addresses)})";
        }

        var live = await Catalog.ReadLiveReleasesAsync(ct: ct);
        return live.Releases.FirstOrDefault(r => r.Service == release.Service && r.DeployId == release.DeployId && r.Color == release.Color) is { } registered
            ? $"it is the live release of {registered.Service} ({registered.Color}) in the registry"
            : null;
    }

    /// <summary>
    /// Checks a proxy config that is to be restored verbatim the way a rendered one is checked before it reaches the
    /// proxy: it may route only to containers Pipeline labelled as releases (or the proxy's own loopback); the proxy's
    /// validator then checks it when it is applied.
    /// </summary>
    /// <exception cref="UndoRefusedException">It names an address that is not a release's.</exception>
    public async Task CheckVerbatimProxyConfigAsync(string config, CancellationToken ct)
    {
        var releases = await Production.ListContainersAsync(new Dictionary<string, string> { [Labels.Role] = Roles.Release }, ct);
        var allowed = releases.SelectMany(c => c.NetworkAddresses.Values).ToHashSet(StringComparer.Ordinal);
        // Loopback and 0.0.0.0/8 (no host can be reached there: nginx's Lua upstream names 0.0.0.1 as a stand-in) are allowed.
        var foreign = ProxyConfigAddresses.Literals(config)
            .Where(ip => !allowed.Contains(ip) && !System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(ip)) && !ip.StartsWith("0.", StringComparison.Ordinal) && ip is not "::")
            .Order(StringComparer.Ordinal)
            .ToList();
        if (foreign.Count > 0)
        {
            throw new UndoRefusedException(
                $"the proxy config to restore verbatim routes to {string.Join(", ", foreign)}, which {(foreign.Count == 1 ? "is not the address" : "are not addresses")} of any release Pipeline runs");
        }
    }
}
