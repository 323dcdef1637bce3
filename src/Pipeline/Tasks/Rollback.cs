using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>
/// Unwinds a journal a dead run left behind (crash, kill -9), putting production back as it was before that run.
/// It takes the service's deploy lock first (waiting up to <c>--lock-timeout</c>), so it never unwinds the journal
/// of a run that is still alive.
/// </summary>
[TaskName("Rollback")]
[TaskDescription("Takes the deploy lock, then unwinds the journal a dead deploy left behind, putting production back as it was.")]
public sealed class Rollback : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        await context.DeployLock.AcquireAsync(context.CancellationToken);
        try
        {
            var report = await AcquireLock.RecoverAsync(context, context.CancellationToken);
            if (!report.Complete)
            {
                throw new CakeException($"Rollback of {context.Service} is incomplete: {report.Summary}");
            }

            context.Log.Information($"Rollback of {context.Service}: {report.Summary}.");
        }
        finally
        {
            await context.DeployLock.ReleaseAsync();
        }
    }
}
