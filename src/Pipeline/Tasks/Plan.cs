using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Planning;

namespace Pipeline.Tasks;

/// <summary>
/// Prints what a deploy would do now, from the real state, changing nothing: the next colour and version, the images to
/// build, push and pull, the containers and volumes to create and remove, the registry keys, and the proxy config as a
/// unified diff against the live one (<c>--format=json</c> for JSON). <c>--target=Deploy --dryrun</c> prints the same.
/// </summary>
[TaskName("Plan")]
[TaskDescription("Prints what a deploy would do now (colours, images, containers, keys, proxy config diff), changing nothing (--format=json).")]
public sealed class Plan : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override Task RunAsync(DeploymentContext context) => PrintAsync(context);

    /// <summary>Works out the plan and prints it (a table in the log, or JSON alone on standard output).</summary>
    public static async Task PrintAsync(DeploymentContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var json = OutputFormat.IsJson(context);
        var plan = await DeployPlanner.CreateAsync(context, context.CancellationToken);
        if (json)
        {
            OutputFormat.WriteJson(plan);
            return;
        }

        var log = context.Log;
        log.Information($"Plan: a deploy of {plan.Service} {plan.Version} now would (nothing has been changed):");
        log.Information($"  colour    {plan.LiveColor ?? "none"}{(plan.LiveVersion is null ? "" : $" ({plan.LiveVersion})")} -> {plan.NextColor} ({plan.Version})");
        if (plan.FromRegistry)
        {
            log.Information("  images    redeploy from the image registry: nothing is built or pushed");
        }

        foreach (var image in plan.ImagesToBuild)
        {
            log.Information($"  build     {image} (CD engine)");
        }

        foreach (var image in plan.ImagesToPush)
        {
            log.Information($"  push      {image}");
        }

        foreach (var image in plan.ImagesToPull)
        {
            log.Information($"  pull      {image}");
        }

        foreach (var resource in plan.Create)
        {
            log.Information($"  create    {resource.Kind} {resource.Name} ({resource.Engine} engine): {resource.Detail}");
        }

        foreach (var resource in plan.Remove)
        {
            log.Information($"  remove    {resource.Kind} {resource.Name} ({resource.Engine} engine): {resource.Detail}");
        }

        foreach (var key in plan.Keys)
        {
            log.Information($"  key       {key.Action,-13} {key.Key}: {key.Detail}");
        }

        foreach (var note in plan.Notes)
        {
            log.Information($"  note      {note}");
        }

        if (plan.ProxyDiff.Length == 0)
        {
            log.Information("  proxy     config unchanged");
        }
        else
        {
            log.Information("  proxy     config (unified diff against the live one):");
            foreach (var line in plan.ProxyDiff.TrimEnd('\n').Split('\n'))
            {
                log.Information($"    {line}");
            }
        }
    }
}
