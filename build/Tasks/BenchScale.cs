using System.Globalization;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Bench;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>
/// Runs the scale bench (bench/, see <see cref="ScaleBench"/>): the planner's replay of a synthetic day driving the real
/// Scale of a live release behind HAProxy under real load, compressed. Options: --hour-seconds=5 (wall seconds per
/// simulated hour) --scale-capacity=25 (req/s per replica) --scale-max-replicas=5.
/// </summary>
[TaskName("BenchScale")]
[TaskDescription("Benchmarks scaling against live load: a replayed synthetic day's decisions run as real Scale on a live release behind HAProxy under load following the day (compressed).")]
public sealed class BenchScale : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var options = new ScaleBenchOptions(
            TimeSpan.FromSeconds(Number(context, "hour-seconds", 5, 1, 60)),
            Number(context, "scale-capacity", 25, 1, 1000),
            (int)Number(context, "scale-max-replicas", 5, 1, 20));
        await ScaleBench.RunAsync(options, line => context.Log.Information("{0}", line), context.CancellationToken);
    }

    private static double Number(ICakeContext context, string name, double fallback, double min, double max)
    {
        if (!context.Arguments.HasArgument(name))
        {
            return fallback;
        }

        var text = context.Arguments.GetArgument(name);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new CakeException(1, $"--{name}={text}: must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}; e.g. --{name}={fallback.ToString(CultureInfo.InvariantCulture)}");
    }
}
