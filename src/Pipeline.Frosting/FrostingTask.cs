using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>A synchronous task on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingTask : FrostingTask<ICakeContext>
{
}

/// <summary>
/// A synchronous task. Override <see cref="Run"/>; optionally <see cref="ShouldRun"/>, <see cref="OnError"/> and <see cref="Finally"/>.
/// Only overridden members are wired into Cake's engine, as in Cake.Frosting.
/// </summary>
/// <typeparam name="T">The context type.</typeparam>
public abstract class FrostingTask<T> : IFrostingTask
    where T : ICakeContext
{
    /// <summary>Runs the task.</summary>
    /// <param name="context">The context.</param>
    public virtual void Run(T context)
    {
    }

    /// <summary>Decides whether the task runs. A target that is skipped fails the run.</summary>
    /// <param name="context">The context.</param>
    /// <returns><c>true</c> if the task should run; otherwise <c>false</c>.</returns>
    public virtual bool ShouldRun(T context) => true;

    /// <summary>
    /// Handles an exception thrown by <see cref="Run"/>. Returning normally marks the error as handled and the run continues
    /// (and may succeed); rethrow (e.g. <see cref="System.Runtime.ExceptionServices.ExceptionDispatchInfo"/>) to keep it failed.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <param name="context">The context.</param>
    public virtual void OnError(Exception exception, T context)
    {
    }

    /// <summary>Runs after the task, whether it succeeded or failed.</summary>
    /// <param name="context">The context.</param>
    public virtual void Finally(T context)
    {
    }

    Task IFrostingTask.RunAsync(ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Run((T)context);
        return Task.CompletedTask;
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

    void IFrostingTask.Finally(ICakeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Finally((T)context);
    }
}
