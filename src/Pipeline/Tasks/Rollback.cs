using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Journal;

namespace Pipeline.Tasks;

/// <summary>
/// Unwinds a journal a dead run left behind (crash, kill -9), putting production back as it was before that run.
/// It takes the service's deploy lock first (waiting up to <c>--lock-timeout</c>), so it never unwinds the journal
/// of a run that is still alive. <c>--skip=SEQUENCE</c> (repeatable or comma-separated) first clears stuck steps
/// without running them, for an operator who dealt with them by hand; who did it is recorded under
/// <c>{prefix}/audit/{service}/</c>. When steps are left, the message lists them with their sequence numbers.
/// </summary>
[TaskName("Rollback")]
[TaskDescription("Takes the deploy lock, then unwinds the journal a dead deploy left behind (--skip=SEQUENCE clears a stuck step, recorded in the audit keys).")]
public sealed class Rollback : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>The argument naming steps to clear without running them.</summary>
    public const string SkipArgument = "skip";

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var ct = context.CancellationToken;
        await context.Lifecycle.StartAsync("Rollback", announce: false, ct);
        await context.ResolveRuntimeAsync(ct);
        await context.DeployLock.AcquireAsync(ct);
        try
        {
            foreach (var sequence in StepsToSkip(context))
            {
                var who = new AuditEntry(
                    "skip-undo-step", "", "", System.Environment.UserName, System.Environment.MachineName, System.Environment.ProcessId, context.DeployId, context.Time.GetUtcNow());
                JournalEntry skipped;
                try
                {
                    skipped = await context.Journal.SkipAsync(sequence, who, ct);
                }
                catch (ArgumentException e)
                {
                    throw new CakeException(e.Message);
                }

                context.Log.Warning(
                    $"Skipped {skipped.Describe()} without running it, as asked by {who.User}@{who.Host}; recorded under {context.Journal.AuditPrefix}.");
            }

            var report = await AcquireLock.RecoverAsync(context, ct);
            if (!report.Complete)
            {
                var left = await context.Journal.ReadAsync(ct);
                throw new CakeException(
                    $"Rollback of {context.Service} is incomplete: {report.Summary}\n" +
                    $"The journal still holds: {string.Join("; ", left.Select(e => e.Describe()))}.");
            }

            context.Log.Information($"Rollback of {context.Service}: {report.Summary}.");
        }
        finally
        {
            await context.DeployLock.ReleaseAsync();
        }
    }

    private static IEnumerable<string> StepsToSkip(DeploymentContext context) =>
        context.Arguments.HasArgument(SkipArgument)
            ? context.Arguments.GetArguments(SkipArgument).SelectMany(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            : [];
}
