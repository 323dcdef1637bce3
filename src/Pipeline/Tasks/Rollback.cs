using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>Unwinds a journal a dead run left behind (crash, kill -9), putting production back as it was before that run.</summary>
[TaskName("Rollback")]
[TaskDescription("Unwinds the journal a dead deploy left behind, putting production back as it was.")]
public sealed class Rollback : AsyncFrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var report = await context.RollbackAsync();
        if (!report.Complete)
        {
            throw new CakeException($"Rollback of {context.Service} is incomplete: {report.Summary}");
        }

        context.Log.Information($"Rollback of {context.Service}: {report.Summary}.");
    }
}
