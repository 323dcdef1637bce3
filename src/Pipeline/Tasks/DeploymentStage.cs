using System.Diagnostics;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Cake.Core.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>
/// A stage of the deploy. It records how long it took, and when it fails its error handler unwinds the
/// journal (the first failing stage does the work) and fails the run with a message saying what failed and
/// what was restored.
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
            context.State.StartedAt = DateTimeOffset.UtcNow;
        }

        var started = Stopwatch.GetTimestamp();
        await RunStageAsync(context, context.CancellationToken);
        context.State.StageDurations.Add((StageName, Stopwatch.GetElapsedTime(started)));
    }

    /// <summary>The stage's work: record each undo in the journal before the change it undoes.</summary>
    protected abstract Task RunStageAsync(DeploymentContext context, CancellationToken ct);

    /// <inheritdoc />
    public sealed override void OnError(Exception exception, DeploymentContext context)
    {
        try
        {
            Fail(exception, context);
        }
        finally
        {
            // After the rollback (or when there was nothing to roll back): the next run of the service may go.
            context.ReleaseLockAsync().GetAwaiter().GetResult();
        }
    }

    private void Fail(Exception exception, DeploymentContext context)
    {
        if (exception is InvalidOptionsException or DeploymentFailedException)
        {
            ExceptionDispatchInfo.Throw(exception);
        }

        var what = exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested
            ? context.Lock?.LostReason is { } lost ? $"{StageName} was stopped: {lost}" : $"{StageName} was cancelled"
            : $"{StageName} failed: {exception.Message}";
        if (context.Lock is null)
        {
            // Stages before AcquireLock change nothing in production, and the journal (if any) belongs to
            // another run of the service: it is not this run's to unwind.
            context.Log.Error($"{what.TrimEnd('.')}. Nothing in production was changed (this run had not taken the deploy lock).");
            throw new DeploymentFailedException($"{what}\nNothing in production was changed.", exception, rolledBack: true);
        }

        context.Log.Error($"{what}. Rolling back.");
        var rollbackStarted = Stopwatch.GetTimestamp();
        try
        {
            var report = context.RollbackAsync().GetAwaiter().GetResult();
            context.State.RollbackDuration ??= Stopwatch.GetElapsedTime(rollbackStarted);
            throw new DeploymentFailedException($"{what}\nRolled back: {report.Summary}.", exception, report.Complete);
        }
        catch (Exception rollbackError) when (rollbackError is not DeploymentFailedException)
        {
            throw new DeploymentFailedException(
                $"{what}\nThe rollback failed too: {rollbackError.Message}\nThe journal is kept: run --target=Rollback to retry.",
                new AggregateException(exception, rollbackError),
                rolledBack: false);
        }
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
