using System.Globalization;
using Pipeline.Runtime;
using Pipeline.Timing;

namespace Pipeline.Healing;

/// <summary>Health checks of single replicas from the production side (a probe container on the release network), for Heal and Scale.</summary>
internal static class ReplicaHealth
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Waits until the new replica <paramref name="name"/> answers its health path; fails fast when it stops or restarts.</summary>
    /// <exception cref="ReleaseUnhealthyException">It stopped, or did not answer within the health timeout.</exception>
    public static async Task<Runtime.ReleaseEndpoint> WaitHealthyAsync(DeploymentContext context, ProductionProbe probe, string id, string name, int port, CancellationToken ct)
    {
        var last = "no answer yet";
        var state = "created";
        async Task<bool> AnswersAsync(CancellationToken deadline)
        {
            var info = await context.Runtime.Engine.InspectContainerAsync(id, deadline);
            state = info?.State ?? "removed";
            if (info is null || state is "exited" or "dead" or "restarting")
            {
                throw new ReleaseUnhealthyException($"replacement {name} stopped ({state}) before its health path answered; last answer: {last}. Its output: docker logs {name}.");
            }

            if (!info.IsRunning || !info.NetworkAddresses.TryGetValue(context.Runtime.Network, out var address) || address.Length == 0)
            {
                return false;
            }

            (var ok, last) = await probe.GetAsync(Url(context, address, port), deadline);
            return ok;
        }

        if (!await Poll.UntilAsync(AnswersAsync, context.Options.HealthTimeout, PollInterval, context.Time, ct))
        {
            throw new ReleaseUnhealthyException($"replacement {name} did not answer {context.Options.HealthPath} within {context.Options.HealthTimeout.TotalSeconds:0.#} s (state {state}; last answer: {last}).");
        }

        var running = await context.Runtime.Engine.InspectContainerAsync(id, ct);
        return new Runtime.ReleaseEndpoint(running!.NetworkAddresses[context.Runtime.Network], port, null, id);
    }

    /// <summary>Starts a probe on the release network, labelled as this run's (the caller disposes it).</summary>
    public static Task<ProductionProbe> StartProbeAsync(DeploymentContext context, ReleaseId release, CancellationToken ct)
    {
        var labels = new Dictionary<string, string>
        {
            [Labels.Service] = context.Service,
            [Labels.Color] = release.Color,
            [Labels.DeployId] = context.DeployId,
            [Labels.Role] = Roles.Probe,
        };
        return ProductionProbe.StartWithinAsync(
            context.Runtime.Engine, context.Options.ProbeImage, context.Runtime.Network, $"{release.Name}-heal-{Guid.NewGuid().ToString("N")[..4]}",
            labels, context.RegistryCredentials, context.Time, context.Options.HealthTimeout, release.Name, ct);
    }

    /// <summary>The health URL of a replica at <paramref name="address"/>.</summary>
    public static string Url(DeploymentContext context, string address, int port) =>
        $"http://{(address.Contains(':') ? $"[{address}]" : address)}:{port.ToString(CultureInfo.InvariantCulture)}{context.Options.HealthPath}";
}
