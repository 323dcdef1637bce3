using Cake.Core.Diagnostics;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Runtime;

namespace Pipeline.Tasks;

/// <summary>Prints a service's live colour, version, endpoints and recent deploys: a table, or JSON with <c>--format=json</c>.</summary>
[TaskName("Status")]
[TaskDescription("Shows the live colour, version, endpoints, swarm services, tasks and nodes, and recent deploys of the service (--format=json for JSON).")]
public sealed class Status : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var ct = context.CancellationToken;
        var json = OutputFormat.IsJson(context);

        var catalog = context.Catalog;
        var color = await catalog.GetLiveColorAsync(context.Service, ct);
        var live = color is null ? null : await catalog.GetReleaseAsync(context.Service, color, ct);
        var history = await catalog.GetHistoryAsync(context.Service, 10, ct);
        var (runtime, runtimeProblem) = await RuntimeAsync(context, ct);
        var status = new
        {
            service = context.Service,
            color,
            version = live?.Version,
            image = live?.Image,
            digest = live?.Digest,
            route = live?.Route,
            hostName = live?.HostName,
            endpoints = live is null ? [] : live.AllEndpoints.Select(e => new { address = e.Address, port = e.Port, node = e.Node }).ToArray(),
            deployId = live?.DeployId,
            orchestrator = runtime?.Kind,
            services = runtime?.Services ?? [],
            nodes = runtime?.Nodes ?? [],
            runtimeProblem,
            history = history.Select(h => new { h.DeployId, h.Version, h.Color, h.PreviousColor, h.StartedAt, h.FinishedAt, seconds = Math.Round((h.FinishedAt - h.StartedAt).TotalSeconds, 1) }),
        };

        if (json)
        {
            OutputFormat.WriteJson(status);
            return;
        }

        context.Log.Information($"{"service",-10} {status.service}");
        context.Log.Information($"{"colour",-10} {color ?? "(never deployed)"}");
        context.Log.Information($"{"version",-10} {live?.Version ?? "-"}");
        context.Log.Information($"{"image",-10} {live?.Image ?? "-"} {live?.Digest}");
        context.Log.Information($"{"endpoints",-10} {(live is null ? "-" : $"{string.Join(", ", live.AllEndpoints)} (route {live.Route}{(live.HostName is null ? "" : $", host {live.HostName}")})")}");
        context.Log.Information($"{"runtime",-10} {(runtime is { } found ? $"{found.Kind} on {context.Options.ProductionEngine}" : $"unknown: {runtimeProblem}")}");
        foreach (var line in (runtime?.Services ?? []).Select(v => $"service {v}").Concat((runtime?.Nodes ?? []).Select(n => $"node {n}")))
        {
            context.Log.Information($"  {line}");
        }

        context.Log.Information("recent deploys:");
        foreach (var h in history)
        {
            context.Log.Information($"  {h.FinishedAt:yyyy-MM-dd HH:mm:ss}  {h.Version,-20} {h.PreviousColor ?? "none",5} -> {h.Color,-5}  {(h.FinishedAt - h.StartedAt).TotalSeconds,6:0.0} s  {h.DeployId}");
        }
    }

    /// <summary>The runtime's view of the service (swarm services with their tasks, and the nodes), or why it cannot be had.</summary>
    private static async Task<((string Kind, IReadOnlyList<string> Services, IReadOnlyList<string> Nodes)? Runtime, string? Problem)> RuntimeAsync(DeploymentContext context, CancellationToken ct)
    {
        try
        {
            var runtime = await context.ResolveRuntimeAsync(ct);
            var snapshot = await runtime.SnapshotAsync(context.Service, ct);
            return ((runtime.Kind.Name, snapshot.Services, snapshot.Nodes), null);
        }
        catch (Exception e) when (e is DockerEngineException or ReleaseRuntimeException)
        {
            return (null, e.Message);
        }
    }
}
