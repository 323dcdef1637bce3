using Cake.Core.Diagnostics;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>Prints a service's live colour, version, endpoints and recent deploys: a table, or JSON with <c>--format=json</c>.</summary>
[TaskName("Status")]
[TaskDescription("Shows the live colour, version, endpoints and recent deploys of the service (--format=json for JSON).")]
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
        var status = new
        {
            service = context.Service,
            color,
            version = live?.Version,
            image = live?.Image,
            digest = live?.Digest,
            route = live?.Route,
            hostName = live?.HostName,
            endpoints = live is null ? [] : new[] { new { address = live.Address, port = live.Port } },
            deployId = live?.DeployId,
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
        context.Log.Information($"{"endpoint",-10} {(live is null ? "-" : $"{live.Address}:{live.Port} (route {live.Route}{(live.HostName is null ? "" : $", host {live.HostName}")})")}");
        context.Log.Information("recent deploys:");
        foreach (var h in history)
        {
            context.Log.Information($"  {h.FinishedAt:yyyy-MM-dd HH:mm:ss}  {h.Version,-20} {h.PreviousColor ?? "none",5} -> {h.Color,-5}  {(h.FinishedAt - h.StartedAt).TotalSeconds,6:0.0} s  {h.DeployId}");
        }
    }
}
