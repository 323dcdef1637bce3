using Pipeline.Docker;

namespace Pipeline.Runtime;

/// <summary>What both runtimes snapshot on the production engine itself: the service's labelled containers and volumes, and its networks.</summary>
internal static class EngineSnapshot
{
    public static async Task<RuntimeSnapshot> CaptureAsync(
        IDockerEngine engine,
        string service,
        string network,
        IReadOnlyList<string> services,
        IReadOnlyList<string> nodes,
        Func<ContainerInfo, bool>? include,
        CancellationToken ct)
    {
        var selector = new Dictionary<string, string> { [Labels.Service] = service };
        var containers = (await engine.ListContainersAsync(selector, ct).ConfigureAwait(false))
            .Where(include ?? (_ => true))
            .Select(Describe)
            .Order(StringComparer.Ordinal)
            .ToList();
        var volumes = (await engine.ListVolumesAsync(selector, ct).ConfigureAwait(false))
            .Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
        var networks = (await engine.ListNetworksAsync(new Dictionary<string, string>(), ct).ConfigureAwait(false))
            .Where(n => n.Name == network || n.Labels.GetValueOrDefault(Labels.Service) == service)
            .Select(n => $"{n.Name} {n.Id[..12]}").Order(StringComparer.Ordinal).ToList();
        return new RuntimeSnapshot(containers, volumes, networks, services, nodes);
    }

    /// <summary>One container as a snapshot line: name, id, image, state, colour, version.</summary>
    public static string Describe(ContainerInfo c) =>
        $"{c.Name} {c.Id[..12]} image={c.ImageId} state={c.State} color={c.Labels.GetValueOrDefault(Labels.Color) ?? "-"} version={c.Labels.GetValueOrDefault(Labels.Version) ?? "-"}";
}
