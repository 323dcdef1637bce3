using System.Text.Json;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Snapshots;

namespace Pipeline.Tasks;

/// <summary>Prints a comparable snapshot of the service's production state (<c>--format=json</c> for JSON).</summary>
[TaskName("Snapshot")]
[TaskDescription("Prints the service's production state: labelled containers, volumes, network, proxy config hash, registry keys (--format=json).")]
public sealed class Snapshot : AsyncFrostingTask<DeploymentContext>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var format = context.Arguments.HasArgument("format") ? context.Arguments.GetArgument("format") : "table";
        if (format is not ("table" or "json"))
        {
            throw new CakeException($"--format={format}: unknown format; use --format=table or --format=json");
        }

        var snapshot = await context.CaptureSnapshotAsync(context.CancellationToken);
        if (format == "json")
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(snapshot, Json));
            return;
        }

        context.Log.Information($"service {snapshot.Service}");
        foreach (var line in snapshot.Containers.Select(c => $"container {c}")
                     .Concat(snapshot.Volumes.Select(v => $"volume {v}"))
                     .Concat(snapshot.Networks.Select(n => $"network {n}"))
                     .Append($"proxy config sha256 {snapshot.ProxyConfigSha256 ?? "(no proxy)"}")
                     .Concat(snapshot.RegistryKeys.Select(k => $"key {k.Key} = {k.Value}")))
        {
            context.Log.Information($"  {line}");
        }
    }
}
