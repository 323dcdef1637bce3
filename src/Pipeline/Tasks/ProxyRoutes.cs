using Pipeline.Proxy;
using Pipeline.Registry;

namespace Pipeline.Tasks;

/// <summary>The proxy's routes, consul-template style: one per service with a live release in the registry.</summary>
internal static class ProxyRoutes
{
    public static async Task<IReadOnlyList<ProxyRoute>> FromRegistryAsync(ServiceCatalog catalog, CancellationToken ct) =>
        (await catalog.GetLiveReleasesAsync(ct))
        .Select(r => new ProxyRoute(r.Service, r.Route, r.HostName, r.Color, r.Version, [new UpstreamEndpoint(r.Address, r.Port)]))
        .ToList();
}
