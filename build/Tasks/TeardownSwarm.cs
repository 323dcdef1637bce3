using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Provisioning;
using Pipeline.Provisioning.Swarm;

namespace Build.Tasks;

/// <summary>
/// Stops the test swarm's dockerds and registry by the pids in their pid files, then deletes its namespaces, veth
/// pairs, bridge, iptables rule, registry CA under /etc/docker/certs.d and its state folder. Takes the same
/// <c>--swarm-*</c> options as ProvisionSwarm.
/// </summary>
[TaskName("TeardownSwarm")]
[TaskDescription("Stops the test Docker Swarm by PID and deletes everything ProvisionSwarm made.")]
public sealed class TeardownSwarm : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        void Log(string line) => context.Log.Information("{0}", line);

        try
        {
            var report = await LocalSwarm.ForThisMachine(context.CdEngine, Log).TeardownAsync(ProvisionSwarm.Options(context), context.CancellationToken);
            Log($"TeardownSwarm: {report.Done.Count} thing{(report.Done.Count == 1 ? "" : "s")} stopped or deleted in {report.Elapsed.TotalSeconds:0.0} s.");
        }
        catch (Exception e) when (e is ProvisioningException or DockerEngineException or ArgumentException)
        {
            throw new CakeException(1, e.Message);
        }
    }
}
