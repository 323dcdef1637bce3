using System.Globalization;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Bench;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>
/// Runs the healing bench (bench/, see <see cref="HealBench"/>): kill → healthy replacement serving (p50, max) and the
/// requests through the proxy that failed meanwhile, with 2 replicas and with 1. Option: --kills=5.
/// </summary>
[TaskName("BenchHeal")]
[TaskDescription("Benchmarks healing: replicas killed with SIGKILL, one Heal pass each; time to a healthy replacement serving and failed requests through the proxy.")]
public sealed class BenchHeal : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var kills = 5;
        if (context.Arguments.HasArgument("kills"))
        {
            var text = context.Arguments.GetArgument("kills");
            kills = int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 100
                ? n
                : throw new CakeException(1, $"--kills={text}: must be 1 to 100; e.g. --kills=5");
        }

        await HealBench.RunAsync(kills, line => context.Log.Information("{0}", line), context.CancellationToken);
    }
}
