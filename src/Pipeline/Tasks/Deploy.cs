using Cake.Core.Diagnostics;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>The whole pipeline: tests, build, push, blue-green release, proxy switch, retire.</summary>
[TaskName("Deploy")]
[TaskDescription("Runs every stage: tests, build, push, release the next colour, switch the proxy, retire the old colour.")]
[IsDependentOn(typeof(RetireOldRelease))]
public sealed class Deploy : FrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override void Run(DeploymentContext context)
    {
        var state = context.State;
        context.Log.Information($"Deployed {context.Service} {context.Version} as {state.NewColor} (was {state.PreviousColor ?? "none"}) in {(context.Time.GetUtcNow() - state.StartedAt).TotalSeconds:0.0} s:");
        foreach (var (stage, duration) in state.StageDurations)
        {
            context.Log.Information($"  {stage,-22} {duration.TotalSeconds,7:0.00} s");
        }
    }
}
