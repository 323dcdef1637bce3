using System.Reflection;
using System.Runtime.ExceptionServices;
using Cake.Core.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Locking;
using Pipeline.Reporting;

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
        await context.ResolveVersionAsync(context.CancellationToken);
        if (context.State.StartedAt == default)
        {
            context.State.StartedAt = context.Time.GetUtcNow();
            await context.Lifecycle.StartAsync("Deploy", announce: true, context.CancellationToken);
        }

        if (context.DeployLock.Held is null && !TakesTheDeployLockItself && RunsUnderTheDeployLock(GetType()))
        {
            // Only when the stage runs without its dependencies (--exclusive): nothing may change without the lock.
            throw new DeploymentLockNotHeldException(
                $"{StageName} changes production and needs the deploy lock of {context.Service}, which AcquireLock takes; " +
                "it did not run (--exclusive runs only the target). Run without --exclusive.");
        }

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

    /// <summary>
    /// True for a stage after the commit point that takes the deploy lock again itself (the lock is released at the commit):
    /// it is not refused for running without it.
    /// </summary>
    protected virtual bool TakesTheDeployLockItself => false;

    /// <summary>True when <paramref name="stage"/> depends, directly or through other stages, on <see cref="AcquireLock"/>.</summary>
    internal static bool RunsUnderTheDeployLock(Type stage)
    {
        var seen = new HashSet<Type>();
        var pending = new Stack<Type>([stage]);
        while (pending.TryPop(out var type))
        {
            foreach (var dependency in type.GetCustomAttributes<IsDependentOnAttribute>().Select(a => a.Task))
            {
                if (dependency == typeof(AcquireLock))
                {
                    return true;
                }

                if (seen.Add(dependency))
                {
                    pending.Push(dependency);
                }
            }
        }

        return false;
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

        // Work started beside the stages (the service image's build, the pushes) ends before the run reports and unwinds.
        await context.SettleBesideWorkAsync();
        if (!context.State.Committed && context.State.OldColorDrain is { } drain)
        {
            // The rollback gives the old colour its traffic back: its drain is no longer waited for.
            await drain.StopAsync();
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
        var lost = held?.LostReason ?? (exception as DeploymentLockLostException)?.Message;
        var stage = exception is StageWorkFailedException beside ? beside.Stage : StageName;
        var what = lost is not null ? $"{StageName} was stopped: {lost}"
            : exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested ? $"{StageName} was cancelled"
            : $"{stage} failed: {exception.Message}";
        if (held is null)
        {
            // Stages before AcquireLock change nothing in production, and the journal (if any) belongs to
            // another run of the service: it is not this run's to unwind.
            context.Log.Error($"{what.TrimEnd('.')}. Nothing in production was changed (this run had not taken the deploy lock).");
            await context.Lifecycle.FailedAsync(new RunFailure(stage, what, RunOutcomes.Failed, "nothing (production was not changed)", context.State.PreviousColor));
            throw new DeploymentFailedException($"{what}\nNothing in production was changed.", exception, rolledBack: true);
        }

        if (context.State.Committed)
        {
            // Past the commit point the journal is cleared: the new release stays live and there is nothing to unwind.
            context.Log.Error($"{what.TrimEnd('.')}. The deploy is committed: the new release stays live and nothing is rolled back.");
            await context.Lifecycle.FailedAsync(new RunFailure(stage, what, RunOutcomes.Failed, $"nothing: the deploy is committed and {context.State.NewColor} stays live", context.State.NewColor));
            throw new DeploymentFailedException($"{what}\nRolled back: nothing to undo.", exception, rolledBack: true);
        }

        if (lost is not null)
        {
            // Another run may hold the lock now: whatever this run would undo may be that run's by now. Touch nothing.
            context.Log.Error($"{what.TrimEnd('.')}. This run lost its deploy lock: it changes nothing more and rolls nothing back.");
            await context.Lifecycle.FailedAsync(new RunFailure(
                stage, what, RunOutcomes.Failed, "nothing: this run lost its deploy lock; the next deploy or --target=Rollback unwinds its journal", null));
            throw new DeploymentFailedException(
                $"{what}\nNothing more was changed: this run lost its deploy lock, so it rolls nothing back. " +
                "Its journal stays for whoever holds the lock next (the next deploy or --target=Rollback unwinds it).",
                exception,
                rolledBack: false);
        }

        context.Log.Error($"{what.TrimEnd('.')}. Rolling back.");
        var rollbackStarted = context.Time.GetTimestamp();
        RollbackReport report;
        try
        {
            using (var resolve = new CancellationTokenSource(context.Options.UndoTimeout, context.Time))
            {
                await context.ResolveRuntimeAsync(resolve.Token);
            }

            report = await context.RollbackRunner.RunAsync();
        }
        catch (Exception rollbackError)
        {
            await context.Lifecycle.FailedAsync(new RunFailure(stage, what, RunOutcomes.RollbackFailed, $"the rollback failed: {rollbackError.Message}", context.State.PreviousColor));
            throw new DeploymentFailedException(
                $"{what}\nThe rollback failed too: {rollbackError.Message}\nThe journal is kept: run --target=Rollback to retry.",
                new AggregateException(exception, rollbackError),
                rolledBack: false);
        }

        context.State.RollbackDuration ??= context.Time.GetElapsedTime(rollbackStarted);
        await context.Lifecycle.FailedAsync(new RunFailure(
            stage, what, report.Complete ? RunOutcomes.RolledBack : RunOutcomes.RollbackFailed, report.Summary, context.State.PreviousColor));
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

/// <summary>Work a stage started beside later stages failed; the stage that waited for it reports it under <see cref="Stage"/>.</summary>
/// <param name="stage">The stage whose work failed (e.g. <c>PushImage</c>).</param>
/// <param name="inner">Why it failed; its message is this one's.</param>
public sealed class StageWorkFailedException(string stage, Exception inner) : Exception(inner.Message, inner)
{
    /// <summary>The stage whose work failed.</summary>
    public string Stage { get; } = stage;
}
