using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Pipeline.Docker;

// Networks: ensure, remove, list.
public sealed partial class DockerEngine
{
    /// <inheritdoc />
    /// <remarks>
    /// The engine allows two networks with one name, so two runs that both find no network can both create one (a
    /// container then refuses the name as ambiguous). After creating, the oldest network of the name is kept and this
    /// call's own is removed if it is not that one: every caller settles on the same network. Calls through one client
    /// are serialised.
    /// </remarks>
    public async Task<string> EnsureNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        await _networkLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await CallAsync($"creating network {name}", async () =>
            {
                if (await FindNetworkAsync(name, ct).ConfigureAwait(false) is { } existing)
                {
                    return existing.ID;
                }

                var created = (await _client.Networks.CreateNetworkAsync(
                    new NetworksCreateParameters { Name = name, Driver = "bridge", Labels = labels.ToDictionary() }, ct).ConfigureAwait(false)).ID;
                var oldest = (await NetworksNamedAsync(name, ct).ConfigureAwait(false)).OrderBy(n => n.Created).ThenBy(n => n.ID, StringComparer.Ordinal).First();
                if (oldest.ID != created)
                {
                    await _client.Networks.DeleteNetworkAsync(created, ct).ConfigureAwait(false);
                }

                return oldest.ID;
            }).ConfigureAwait(false);
        }
        finally
        {
            _networkLock.Release();
        }
    }

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

    private async Task<NetworkResponse?> FindNetworkAsync(string name, CancellationToken ct) =>
        (await NetworksNamedAsync(name, ct).ConfigureAwait(false)).FirstOrDefault();

    private async Task<IReadOnlyList<NetworkResponse>> NetworksNamedAsync(string name, CancellationToken ct)
    {
        // The name filter matches substrings; keep the exact matches.
        var filters = new Dictionary<string, IDictionary<string, bool>> { ["name"] = new Dictionary<string, bool> { [name] = true } };
        var list = await _client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = filters }, ct).ConfigureAwait(false);
        return list.Where(n => n.Name == name).ToList();
    }
}
