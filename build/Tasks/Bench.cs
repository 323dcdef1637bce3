using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Bench;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>
/// Runs the bench (bench/, see <see cref="BenchRunner"/>): deploys under load per proxy, against bench/baseline.sh.
/// Options: --deploys=20 --rollbacks=5 --connections=16 --close-connections=4 --interval-ms=50
/// --proxy=haproxy|nginx|all (default all) --services=10 --config-routes=1000 --baseline=true --capture-proxy-log=false
/// --https-connections=4 --route-added=true; --orchestrator=swarm runs the swarm bench instead (<see cref="SwarmBench"/>:
/// --deploys on one engine and on the test swarm, then a worker killed).
/// </summary>
[TaskName("Bench")]
[TaskDescription("Benchmarks deploys under load per proxy (dropped requests, switch/rollback latency, overhead vs bench/baseline.sh, 1,000-route config, K concurrent services).")]
public sealed class Bench : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(name => context.Arguments.HasArgument(name) ? context.Arguments.GetArgument(name) : null);
        }
        catch (ArgumentException e)
        {
            throw new CakeException(1, e.Message);
        }

        if (options.Swarm)
        {
            try
            {
                await new SwarmBench(line => context.Log.Information("{0}", line)).RunAsync(options, context.CancellationToken);
            }
            catch (BenchException e)
            {
                throw new CakeException(1, e.Message);
            }

            return;
        }

        var command = "./build.sh " + string.Join(' ', System.Environment.GetCommandLineArgs().Skip(1));
        var runner = new BenchRunner(context.Environment.WorkingDirectory.FullPath, line => context.Log.Information("{0}", line));
        try
        {
            await runner.RunAsync(options, command, context.CancellationToken);
        }
        catch (BenchException e)
        {
            throw new CakeException(1, e.Message);
        }
    }
}
