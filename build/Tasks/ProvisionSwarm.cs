using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Provisioning;
using Pipeline.Provisioning.Swarm;

namespace Build.Tasks;

/// <summary>
/// Makes the 3-node test swarm on this machine (dockerds in network namespaces on their own bridge, the manager's
/// API over mutual TLS, an HTTPS image registry on the bridge address), or finds it healthy and changes nothing.
/// Options: <c>--swarm-dir</c> (default /var/lib/pipeline-swarm), <c>--swarm-nodes</c> (3),
/// <c>--swarm-subnet</c> (10.231.0.0/24). Needs root.
/// </summary>
[TaskName("ProvisionSwarm")]
[TaskDescription("Makes (or checks) the 3-node test Docker Swarm on this machine and prints how to reach its manager over TLS.")]
[IsDependentOn(typeof(ProvisionLocalServices))]
public sealed class ProvisionSwarm : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        void Log(string line) => context.Log.Information("{0}", line);

        try
        {
            var report = await LocalSwarm.ForThisMachine(context.CdEngine, Log).EnsureAsync(Options(context), context.CancellationToken);
            foreach (var line in report.Describe())
            {
                Log(line);
            }

            Log($"ProvisionSwarm: {report.Changes.Count} change{(report.Changes.Count == 1 ? "" : "s")} in {report.Elapsed.TotalSeconds:0.0} s.");
        }
        catch (Exception e) when (e is ProvisioningException or DockerEngineException or ArgumentException)
        {
            throw new CakeException(1, e.Message);
        }
    }

    /// <summary>The swarm's shape from the command line, over the defaults.</summary>
    internal static LocalSwarmOptions Options(ICakeContext context)
    {
        string? Argument(string name) => context.Arguments.HasArgument(name) ? context.Arguments.GetArgument(name) : null;
        var options = new LocalSwarmOptions();
        if (Argument("swarm-dir") is { } folder)
        {
            options = options with { StateDirectory = folder };
        }

        if (Argument("swarm-nodes") is { } nodes)
        {
            options = options with
            {
                Nodes = int.TryParse(nodes, out var count) ? count : throw new CakeException(1, $"--swarm-nodes={nodes} is not a number; use 1 to 9."),
            };
        }

        if (Argument("swarm-subnet") is { } subnet)
        {
            options = options with { Subnet = subnet };
        }

        try
        {
            return options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CakeException(1, e.Message);
        }
    }
}
