using Cake.Core;
using Microsoft.Extensions.DependencyInjection;
using Pipeline;
using Pipeline.Configuration;
using Pipeline.Frosting;
using Pipeline.Tasks;

namespace Build.Bench;

/// <summary>One in-process pipeline run as the bench saw it.</summary>
internal sealed record PipelineRunResult(int ExitCode, TimeSpan Wall, DeploymentState? State);

/// <summary>Runs the real pipeline in-process (a fresh Cake host per run, quiet) and keeps the run's <see cref="DeploymentState"/>.</summary>
internal static class PipelineRunner
{
    public static PipelineRunResult Run(DeploymentOptions options, string target = "Deploy")
    {
        var sink = new StateSink();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var exit = new CakeHost()
            .UseContext<RecordingContext>()
            .AddAssembly(typeof(Deploy).Assembly)
            .ConfigureServices(services =>
            {
                services.AddSingleton(options);
                services.AddSingleton(sink);
            })
            .Run([$"--target={target}", "--verbosity=quiet"]);
        return new PipelineRunResult(exit, System.Diagnostics.Stopwatch.GetElapsedTime(started), sink.Context?.State);
    }

    /// <summary>Where the run's context leaves itself, so its state can be read after the run.</summary>
    public sealed class StateSink
    {
        public DeploymentContext? Context { get; set; }
    }

    /// <summary>The pipeline's context, registering itself with the sink.</summary>
    public sealed class RecordingContext : DeploymentContext
    {
        public RecordingContext(ICakeContext context, DeploymentOptions options, StateSink sink)
            : base(context, options)
        {
            sink.Context = this;
        }
    }
}
