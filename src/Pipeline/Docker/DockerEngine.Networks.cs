using System.Diagnostics;
using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Pipeline.Docker;

// Networks: ensure, remove, list.
public sealed partial class DockerEngine
{
    /// <summary>The volume whose holder alone may create the network <paramref name="network"/>.</summary>
    internal static string NetworkClaimOf(string network) => $"{network}-network-claim";

    /// <summary>How long a call waits for another to create the network it claimed before taking the claim over.</summary>
    internal TimeSpan NetworkClaimPatience { get; init; } = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    /// <remarks>
    /// The engine (20.10) allows two networks of one name and its duplicate check is not atomic, so two runs that both
    /// find no network could both create one (a container then refuses the name as ambiguous). Volume names are atomic:
    /// the call that creates the volume <c>{name}-network-claim</c> with its own id on it creates the network and then
    /// removes the claim; the others wait for the network. A claim left by a crashed run is taken over once it has
    /// stood for 30 s without a network. Calls through one client are serialised.
    /// </remarks>
    public async Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        await _networkLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await CallAsync($"creating network {name}", async () =>
            {
                var claim = NetworkClaimOf(name);
                var ours = Guid.NewGuid().ToString("N");
                (string Holder, long Since)? waitingFor = null;
                while (true)
                {
                    if (await FindNetworkAsync(name, ct).ConfigureAwait(false) is { } existing)
                    {
                        return existing.ID;
                    }

                    var holder = await ClaimAsync(claim, ours, labels.GetValueOrDefault(Labels.DeployId), ct).ConfigureAwait(false);
                    if (holder == ours)
                    {
                        return await CreateClaimedNetworkAsync(name, labels, claim, ct).ConfigureAwait(false);
                    }

                    if (waitingFor?.Holder != holder)
                    {
                        waitingFor = (holder, Stopwatch.GetTimestamp());
                    }
                    else if (Stopwatch.GetElapsedTime(waitingFor.Value.Since) > NetworkClaimPatience)
                    {
                        // Its holder has not created the network in all that time: a crashed run's claim.
                        await RemoveClaimAsync(claim, holder, ct).ConfigureAwait(false);
                        waitingFor = null;
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(50), ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
        }
        finally
        {
            _networkLock.Release();
        }
    }

    /// <summary>
    /// Creates the claim volume with <paramref name="ours"/> on it (and the deploy making it, so its rollback can remove a
    /// claim it left), or finds it already there; returns the id it holds.
    /// </summary>
    private async Task<string> ClaimAsync(string claim, string ours, string? deployId, CancellationToken ct)
    {
        var labels = new Dictionary<string, string> { [Labels.Role] = Roles.NetworkClaim, [Labels.NetworkClaim] = ours };
        if (deployId is not null)
        {
            labels[Labels.DeployId] = deployId;
        }

        var volume = await _client.Volumes.CreateAsync(new VolumesCreateParameters { Name = claim, Labels = labels }, ct).ConfigureAwait(false);
        return HolderOf(volume.Labels);
    }

    private static string HolderOf(IDictionary<string, string>? labels) =>
        labels is not null && labels.TryGetValue(Labels.NetworkClaim, out var id) ? id : "";

    /// <summary>Creates the network under this call's claim (unless another run did between the look and the claim), then gives the claim up.</summary>
    private async Task<string> CreateClaimedNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, string claim, CancellationToken ct)
    {
        try
        {
            return (await FindNetworkAsync(name, ct).ConfigureAwait(false))?.ID
                ?? (await _client.Networks.CreateNetworkAsync(
                    new NetworksCreateParameters { Name = name, Driver = "bridge", Labels = labels.ToDictionary() }, ct).ConfigureAwait(false)).ID;
        }
        finally
        {
            await RemoveClaimAsync(claim, holder: null, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Removes the claim volume; with <paramref name="holder"/>, only while that id still holds it.</summary>
    private async Task RemoveClaimAsync(string claim, string? holder, CancellationToken ct)
    {
        try
        {
            if (holder is not null && HolderOf((await _client.Volumes.InspectAsync(claim, ct).ConfigureAwait(false)).Labels) != holder)
            {
                return;
            }

            await _client.Volumes.RemoveAsync(claim, false, ct).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    /// <inheritdoc />
    public Task RemoveNetworkClaimAsync(string name, string deployId, CancellationToken ct = default) =>
        CallAsync($"removing the claim on network {name} of deploy {deployId}", async () =>
        {
            try
            {
                var claim = await _client.Volumes.InspectAsync(NetworkClaimOf(name), ct).ConfigureAwait(false);
                if (claim.Labels is { } labels
                    && labels.TryGetValue(Labels.Role, out var role) && role == Roles.NetworkClaim
                    && labels.TryGetValue(Labels.DeployId, out var claimedBy) && claimedBy == deployId)
                {
                    await RemoveClaimAsync(claim.Name, HolderOf(claim.Labels), ct).ConfigureAwait(false);
                }
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task RemoveNetworkAsync(string name, CancellationToken ct = default) =>
        CallAsync($"removing network {name}", async () =>
        {
            try
            {
                await _client.Networks.DeleteNetworkAsync(name, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<NetworkInfo>> ListNetworksAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"listing networks labelled {DescribeLabels(labels)}", async () =>
        {
            var list = await _client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = LabelFilters(labels) }, ct).ConfigureAwait(false);
            return (IReadOnlyList<NetworkInfo>)list.Select(n => new NetworkInfo(n.ID, n.Name, ToReadOnly(n.Labels))).ToList();
        });

    /// <summary>The network of that name; the oldest, should an earlier version have left two.</summary>
    private async Task<NetworkResponse?> FindNetworkAsync(string name, CancellationToken ct) =>
        (await NetworksNamedAsync(name, ct).ConfigureAwait(false)).OrderBy(n => n.Created).ThenBy(n => n.ID, StringComparer.Ordinal).FirstOrDefault();

    private async Task<IReadOnlyList<NetworkResponse>> NetworksNamedAsync(string name, CancellationToken ct)
    {
        // The name filter matches substrings; keep the exact matches.
        var filters = new Dictionary<string, IDictionary<string, bool>> { ["name"] = new Dictionary<string, bool> { [name] = true } };
        var list = await _client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filters }, ct).ConfigureAwait(false);
        return list.Where(n => n.Name == name).ToList();
    }
}
