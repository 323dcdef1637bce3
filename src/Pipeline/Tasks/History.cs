using System.Globalization;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.History;

namespace Pipeline.Tasks;

/// <summary>
/// Lists a service's deploys, rollbacks and heals, newest first, with versions, colours, outcome and stage times
/// (<c>--format=json</c> for JSON; <c>--count=N</c>, default 20).
/// </summary>
[TaskName("History")]
[TaskDescription("Lists the service's deploys, rollbacks and heals with versions, colours, outcome and stage times (--format=json, --count=N).")]
public sealed class History : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>How many entries are listed without <c>--count</c>.</summary>
    public const int DefaultCount = 20;

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var json = OutputFormat.IsJson(context);
        var count = DefaultCount;
        if (context.Arguments.HasArgument("count")
            && !(int.TryParse(context.Arguments.GetArgument("count"), NumberStyles.None, CultureInfo.InvariantCulture, out count) && count > 0))
        {
            throw new CakeException($"--count={context.Arguments.GetArgument("count")}: give a positive whole number of entries; e.g. --count=50");
        }

        var records = await new ServiceHistory(context.Catalog).ReadAsync(context.Service, count, context.CancellationToken);
        if (json)
        {
            OutputFormat.WriteJson(records.Select(r => new
            {
                r.Kind,
                r.DeployId,
                r.Version,
                r.Color,
                r.PreviousColor,
                r.Outcome,
                r.Stage,
                r.StartedAt,
                r.FinishedAt,
                seconds = Math.Round((r.FinishedAt - r.StartedAt).TotalSeconds, 1),
                r.StageSeconds,
                r.Summary,
            }));
            return;
        }

        context.Log.Information($"History of {context.Service} ({records.Count} entr{(records.Count == 1 ? "y" : "ies")}, newest first):");
        context.Log.Information($"  {"finished (UTC)",-19}  {"kind",-8}  {"outcome",-15}  {"version",-12}  {"colours",-22}  {"seconds",7}  deploy id");
        foreach (var r in records)
        {
            var colours = r.Kind == HistoryKinds.Rollback
                ? $"{r.PreviousColor ?? "none"} kept{(r.Color is null ? "" : $", {r.Color} undone")}"
                : $"{r.PreviousColor ?? "none"} -> {r.Color ?? "-"}";
            context.Log.Information(
                $"  {r.FinishedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),-19}  {r.Kind,-8}  {r.Outcome,-15}  {r.Version ?? "-",-12}  {colours,-22}  {(r.FinishedAt - r.StartedAt).TotalSeconds,7:0.0}  {r.DeployId}");
            if (r.StageSeconds.Count > 0)
            {
                context.Log.Information($"      stages: {string.Join(", ", r.StageSeconds.Select(s => $"{s.Key} {s.Value.ToString("0.00", CultureInfo.InvariantCulture)} s"))}");
            }

            var summary = (r.Summary ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            if (r.Stage is { } stage)
            {
                var cause = summary.Count > 0 && summary[0].StartsWith($"{stage} failed: ", StringComparison.Ordinal) ? summary[0][$"{stage} failed: ".Length..] : summary.FirstOrDefault() ?? "";
                context.Log.Information($"      failed in {stage}: {cause.TrimEnd(':')}");
                summary = summary.Where(l => l.StartsWith("Rolled back:", StringComparison.Ordinal)).ToList();
            }

            foreach (var line in summary)
            {
                context.Log.Information($"      {line}");
            }
        }
    }
}
