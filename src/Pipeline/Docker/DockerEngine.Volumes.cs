using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Pipeline.Docker;

// Volumes: create, remove, list.
public sealed partial class DockerEngine
{
    /// <inheritdoc />
    public Task CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"creating volume {name}", async () =>
        {
            await _client.Volumes.CreateAsync(new VolumesCreateParameters { Name = name, Labels = labels.ToDictionary() }, ct).ConfigureAwait(false);
            return true;
        });

    /// <inheritdoc />
    public Task RemoveVolumeAsync(string name, CancellationToken ct = default) =>
        CallAsync($"removing volume {name}", async () =>
        {
            try
            {
                await _client.Volumes.RemoveAsync(name, false, ct).ConfigureAwait(false);
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
            }

            return true;
        });

    /// <inheritdoc />
    public Task<IReadOnlyList<VolumeInfo>> ListVolumesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default) =>
        CallAsync($"listing volumes labelled {DescribeLabels(labels)}", async () =>
        {
            var list = await _client.Volumes.ListAsync(new VolumesListParameters { Filters = LabelFilters(labels) }, ct).ConfigureAwait(false);
            return (IReadOnlyList<VolumeInfo>)(list.Volumes ?? []).Select(v => new VolumeInfo(v.Name, ToReadOnly(v.Labels))).ToList();
        });
}
