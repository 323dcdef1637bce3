using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Planning;

namespace Pipeline.Tasks;

/// <summary>
/// The whole pipeline: tests, build, push, blue-green release, proxy switch, retire. With <c>--dryrun</c> it runs none of
/// it and prints the plan instead (what <c>--target=Plan</c> prints).
/// </summary>
[TaskName("Deploy")]
[TaskDescription("Runs every stage: tests, build, push, expand migrations, release the next colour, switch the proxy, retire the old colour, contract migrations.")]
[IsDependentOn(typeof(ContractMigrations))]
public sealed class Deploy : AsyncFrostingTask<DeploymentContext>, IFrostingDryRunTask
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var state = context.State;
        context.Log.Information($"Deployed {context.Service} {context.Version} as {state.NewColor} (was {state.PreviousColor ?? "none"}) in {(context.Time.GetUtcNow() - state.StartedAt).TotalSeconds:0.0} s:");
        foreach (var span in state.StageSpans)
        {
            // A stage whose work overlapped another's says so: the durations do not add up to the total.
            var beside = state.StageSpans.Where(other => other != span && other.Start < span.End && span.Start < other.End && other.Start < span.Start).Select(o => o.Stage).ToList();
            context.Log.Information($"  {span.Stage,-22} {span.Duration.TotalSeconds,7:0.00} s  (from {span.Start.TotalSeconds:0.00} s{(beside.Count > 0 ? $", beside {string.Join(", ", beside)}" : "")})");
        }

        await context.Lifecycle.SucceededAsync();
    }

    /// <inheritdoc />
    public Task DryRunAsync(ICakeContext context) => Plan.PrintAsync((DeploymentContext)context);
}
