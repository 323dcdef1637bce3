using Pipeline.Docker;

namespace Pipeline.Tasks;

/// <summary>Where a release answers on the pipeline network.</summary>
internal static class ReleaseAddress
{
    public static string Of(ContainerInfo container, string network) =>
        container.NetworkAddresses.TryGetValue(network, out var address) && address.Length > 0
            ? address
            : throw new DockerEngineException($"Container {container.Name} has no address on network {network}.");
}
