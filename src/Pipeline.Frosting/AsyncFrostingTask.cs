using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>An asynchronous task on the plain <see cref="ICakeContext"/>.</summary>
public abstract class AsyncFrostingTask : AsyncFrostingTask<ICakeContext>
{
}

/// <summary>
/// An asynchronous task. Override <see cref="RunAsync"/>; optionally <see cref="ShouldRun"/>, <see cref="OnError"/>
/// (or, beyond Cake.Frosting, <see cref="OnErrorAsync"/> for a handler that awaits) and <see cref="Finally"/>.
/// </summary>
/// <typeparam name="T">The context type.</typeparam>
public abstract class AsyncFrostingTask<T> : IFrostingTask
    where T : ICakeContext
{
    /// <summary>Runs the task.</summary>
    /// <param name="context">The context.</param>
    /// <returns>The asynchronous operation.</returns>
    public virtual Task RunAsync(T context) => Task.CompletedTask;

    /// <summary>Decides whether the task runs. A target that is skipped fails the run.</summary>
    /// <param name="context">The context.</param>
    /// <returns><c>true</c> if the task should run; otherwise <c>false</c>.</returns>
    public virtual bool ShouldRun(T context) => true;

    /// <summary>
    /// Handles an exception thrown by <see cref="RunAsync"/>. Returning normally marks the error as handled;
    /// rethrow to keep the run failed.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <param name="context">The context.</param>
    public virtual void OnError(Exception exception, T context)
    {
        ArgumentNullException.ThrowIfNull(exception);
    }

    /// <summary>
    /// Handles an exception thrown by <see cref="RunAsync"/> asynchronously: Cake's engine awaits it, so the handler can
    /// await its own work (e.g. a rollback) without blocking. Returning normally marks the error as handled; rethrow to
    /// keep the run failed. By default it calls <see cref="OnError"/>; override one of the two.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <param name="context">The context.</param>
    /// <returns>The asynchronous operation.</returns>
    public virtual Task OnErrorAsync(Exception exception, T context)
    {
        OnError(exception, context);
        return Task.CompletedTask;
    }

    /// <summary>Runs after the task, whether it succeeded or failed.</summary>
    /// <param name="context">The context.</param>
    public virtual void Finally(T context)
    {
    }

    Task IFrostingTask.RunAsync(ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return RunAsync((T)context);
    }

    bool IFrostingTask.ShouldRun(ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ShouldRun((T)context);
    }

    void IFrostingTask.OnError(Exception exception, ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(context);
        OnError(exception, (T)context);
    }

    Task IFrostingTask.OnErrorAsync(Exception exception, ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(context);
        return OnErrorAsync(exception, (T)context);
    }

    void IFrostingTask.Finally(ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Finally((T)context);
    }
}
