using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Snapshots;

namespace Pipeline.Tasks;

/// <summary>Prints a comparable snapshot of the service's production state (<c>--format=json</c> for JSON).</summary>
[TaskName("Snapshot")]
[TaskDescription("Prints the service's production state: labelled containers, volumes, network, swarm services, tasks and nodes, proxy config hash, registry keys (--format=json).")]
public sealed class Snapshot : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var json = OutputFormat.IsJson(context);

        await context.ResolveRuntimeAsync(context.CancellationToken);
        var snapshot = await context.CaptureSnapshotAsync(context.CancellationToken);
        if (json)
        {
            OutputFormat.WriteJson(snapshot);
            return;
        }

        context.Log.Information($"service {snapshot.Service}");
        foreach (var line in snapshot.Containers.Select(c => $"container {c}")
                     .Concat(snapshot.Volumes.Select(v => $"volume {v}"))
                     .Concat(snapshot.Networks.Select(n => $"network {n}"))
                     .Concat(snapshot.Services.Select(v => $"service {v}"))
                     .Concat(snapshot.Nodes.Select(n => $"node {n}"))
                     .Append($"proxy config sha256 {snapshot.ProxyConfigSha256 ?? "(no proxy)"}")
                     .Concat(snapshot.RegistryKeys.Select(k => $"key {k.Key} = {k.Value}")))
        {
            context.Log.Information($"  {line}");
        }
    }
}
