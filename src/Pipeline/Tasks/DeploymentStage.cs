using System.Reflection;
using System.Runtime.ExceptionServices;
using Cake.Core.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Frosting;
using Pipeline.Journal;

namespace Pipeline.Tasks;

/// <summary>
/// A stage of the deploy. It records how long it took, and when it fails its error handler unwinds the
/// journal and fails the run with a message saying what failed and what was restored.
/// </summary>
public abstract class DeploymentStage : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>The stage's task name.</summary>
    protected string StageName => GetType().GetCustomAttribute<TaskNameAttribute>()?.Name ?? GetType().Name;

    /// <inheritdoc />
    public sealed override async Task RunAsync(DeploymentContext context)
    {
        if (context.State.StartedAt == default)
        {
            context.State.StartedAt = context.Time.GetUtcNow();
        }

        await context.ResolveVersionAsync(context.CancellationToken);
        var started = context.Time.GetTimestamp();
        var start = context.Time.GetUtcNow() - context.State.StartedAt;
        await RunStageAsync(context, context.CancellationToken);
        var span = context.State.StageSpans.LastOrDefault() is { } own && own.Stage == StageName
            ? own // the stage reported when its work really ran (it overlapped an earlier stage)
            : new StageSpan(StageName, start, context.Time.GetElapsedTime(started));
        if (!ReferenceEquals(span, context.State.StageSpans.LastOrDefault()))
        {
            context.State.StageSpans.Add(span);
        }

        context.State.StageDurations.Add((StageName, span.Duration));
    }

    /// <summary>The stage's work: record each undo in the journal before the change it undoes.</summary>
    protected abstract Task RunStageAsync(DeploymentContext context, CancellationToken ct);

    /// <summary>
    /// The failure handler: unwinds the journal (awaited; nothing blocks), releases the deploy lock, and fails the run
    /// with a <see cref="DeploymentFailedException"/> saying what failed and what was restored.
    /// </summary>
    public sealed override async Task OnErrorAsync(Exception exception, DeploymentContext context)
    {
        if (exception is InvalidOptionsException)
        {
            // Nothing was touched and no lock taken: the options never resolved.
            ExceptionDispatchInfo.Throw(exception);
        }

        try
        {
            await FailAsync(exception, context);
        }
        finally
        {
            // After the rollback (or when there was nothing to roll back): the next run of the service may go.
            await context.DeployLock.ReleaseAsync();
        }
    }

    /// <summary>Sealed: a stage's failure handler is <see cref="OnErrorAsync"/>, the same for every stage.</summary>
    public sealed override void OnError(Exception exception, DeploymentContext context) => base.OnError(exception, context);

    private async Task FailAsync(Exception exception, DeploymentContext context)
    {
        if (exception is DeploymentFailedException)
        {
            ExceptionDispatchInfo.Throw(exception);
        }

        var held = context.DeployLock.Held;
        var what = exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested
            ? held?.LostReason is { } lost ? $"{StageName} was stopped: {lost}" : $"{StageName} was cancelled"
            : $"{StageName} failed: {exception.Message}";
        if (held is null)
        {
            // Stages before AcquireLock change nothing in production, and the journal (if any) belongs to
            // another run of the service: it is not this run's to unwind.
            context.Log.Error($"{what.TrimEnd('.')}. Nothing in production was changed (this run had not taken the deploy lock).");
            throw new DeploymentFailedException($"{what}\nNothing in production was changed.", exception, rolledBack: true);
        }

        if (context.State.Committed)
        {
            // Past the commit point the journal is cleared: the new release stays live and there is nothing to unwind.
            context.Log.Error($"{what.TrimEnd('.')}. The deploy is committed: the new release stays live and nothing is rolled back.");
            throw new DeploymentFailedException($"{what}\nRolled back: nothing to undo.", exception, rolledBack: true);
        }

        context.Log.Error($"{what}. Rolling back.");
        var rollbackStarted = context.Time.GetTimestamp();
        RollbackReport report;
        try
        {
            report = await context.RollbackRunner.RunAsync();
        }
        catch (Exception rollbackError)
        {
            throw new DeploymentFailedException(
                $"{what}\nThe rollback failed too: {rollbackError.Message}\nThe journal is kept: run --target=Rollback to retry.",
                new AggregateException(exception, rollbackError),
                rolledBack: false);
        }

        context.State.RollbackDuration ??= context.Time.GetElapsedTime(rollbackStarted);
        throw new DeploymentFailedException($"{what}\nRolled back: {report.Summary}.", exception, report.Complete);
    }
}

/// <summary>A deploy failed; the message says which stage, why, and what the rollback restored.</summary>
public sealed class DeploymentFailedException(string message, Exception inner, bool rolledBack) : Exception(message, inner)
{
    /// <summary>True when the rollback undid every recorded change.</summary>
    public bool RolledBack { get; } = rolledBack;
}

/// <summary>Reports engine progress lines to the build log as they arrive, in order.</summary>
internal sealed class LogProgress(ICakeLog log, string prefix) : IProgress<string>
{
    public void Report(string value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            log.Information($"{prefix}{value.TrimEnd()}");
        }
    }
}
