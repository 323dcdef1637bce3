using System.Globalization;
using Pipeline.Docker;
using Pipeline.Runtime;

namespace Pipeline.Healing;

/// <summary>One replica container of a release on the containers runtime, as Heal and Scale see it.</summary>
/// <param name="Id">The container's id.</param>
/// <param name="Name">Its name (<c>{release}</c> or <c>{release}-{N}</c>).</param>
/// <param name="Replica">Its replica number (label <see cref="Labels.Replica"/>).</param>
/// <param name="State">The engine's state: <c>running</c>, <c>exited</c>, <c>restarting</c>, <c>dead</c>, <c>created</c>…</param>
/// <param name="Address">Its address on the release network while it runs, else null.</param>
public sealed record ReleaseInstance(string Id, string Name, int Replica, string State, string? Address)
{
    /// <summary>True while it runs with an address on the release network.</summary>
    public bool Running => State == "running" && Address is not null;
}

/// <summary>
/// The replica containers of a release on one engine (found by the release's labels), and copies of them: what Heal
/// replaces an instance with and what Scale adds. A copy is started from an existing replica's image, environment,
/// volumes and labels (so it is one of the release), under the lowest replica number not taken, labelled
/// <see cref="Labels.HealedBy"/> with the run that started it.
/// </summary>
/// <param name="engine">The production engine.</param>
/// <param name="network">The release network.</param>
public sealed class ReleaseInstances(IDockerEngine engine, string network)
{
    /// <summary>The release's replica containers in any state, by replica number.</summary>
    public async Task<IReadOnlyList<ReleaseInstance>> ListAsync(ReleaseId release, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        var containers = await engine.ListContainersAsync(new Dictionary<string, string>(release.Selector) { [Labels.Role] = Roles.Release }, ct).ConfigureAwait(false);
        return containers
            .Select(c => new ReleaseInstance(
                c.Id,
                c.Name,
                int.TryParse(c.Labels.GetValueOrDefault(Labels.Replica), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 1,
                c.State,
                c.IsRunning && c.NetworkAddresses.TryGetValue(network, out var address) && address.Length > 0 ? address : null))
            .OrderBy(i => i.Replica)
            .ToList();
    }

    /// <summary>The name the next copy gets: the lowest replica number none of <paramref name="existing"/> holds.</summary>
    public static (int Replica, string Name) NextName(ReleaseId release, IEnumerable<ReleaseInstance> existing, IEnumerable<int>? alsoTaken = null)
    {
        var taken = existing.Select(i => i.Replica).Concat(alsoTaken ?? []).ToHashSet();
        var replica = 1;
        while (taken.Contains(replica))
        {
            replica++;
        }

        return (replica, ContainerRuntime.ReplicaName(release, replica));
    }

    /// <summary>
    /// Starts a copy of <paramref name="model"/> (a replica of <paramref name="release"/>, running or not) as replica
    /// <paramref name="replica"/> named <paramref name="name"/>; record its removal first.
    /// </summary>
    /// <returns>The new container's id.</returns>
    /// <exception cref="ReleaseNotFoundException">The model is gone.</exception>
    public async Task<string> StartCopyAsync(ReleaseId release, string model, int replica, string name, string startedBy, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        var source = await engine.InspectContainerAsync(model, ct).ConfigureAwait(false)
            ?? throw new ReleaseNotFoundException($"{model} disappeared before a copy of it could replace a replica of {release.Name}.");
        var labels = new Dictionary<string, string>(source.Labels)
        {
            [Labels.Replica] = replica.ToString(CultureInfo.InvariantCulture),
            [Labels.HealedBy] = startedBy,
        };
        var id = await engine.CreateContainerAsync(
            new ContainerSpec
            {
                Name = name,
                Image = source.Image,
                Network = network,
                Labels = labels,
                RestartPolicy = source.RestartPolicy,
                Volumes = source.Volumes,
                Environment = source.Environment,
            },
            ct).ConfigureAwait(false);
        await engine.StartContainerAsync(id, ct).ConfigureAwait(false);
        return id;
    }
}
