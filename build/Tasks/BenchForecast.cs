using System.Globalization;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Bench;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>
/// Runs the forecast bench (bench/, see <see cref="ForecastBench"/>): the MAPE per synthetic history from a private
/// Prometheus, and the scaling planner replayed over one. Options: --replay-capacity=10 (req/s per replica)
/// --replay-startup=60 (seconds).
/// </summary>
[TaskName("BenchForecast")]
[TaskDescription("Benchmarks the forecast on synthetic histories in a private Prometheus (MAPE per history) and replays the scaling planner over one.")]
public sealed class BenchForecast : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var options = new ForecastBenchOptions(Number(context, "replay-capacity", 10), TimeSpan.FromSeconds(Number(context, "replay-startup", 60)));
        await ForecastBench.RunAsync(options, context.Environment.WorkingDirectory.FullPath, line => context.Log.Information("{0}", line), context.CancellationToken);
    }

    private static double Number(ICakeContext context, string name, double fallback)
    {
        if (!context.Arguments.HasArgument(name))
        {
            return fallback;
        }

        var text = context.Arguments.GetArgument(name);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && double.IsFinite(value)
            ? value
            : throw new CakeException(1, $"--{name}={text}: must be a positive number; e.g. --{name}={fallback.ToString(CultureInfo.InvariantCulture)}");
    }
}
