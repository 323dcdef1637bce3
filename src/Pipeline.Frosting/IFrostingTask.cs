using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>
/// A Frosting task. Derive from <see cref="FrostingTask{T}"/> or <see cref="AsyncFrostingTask{T}"/> rather than implementing this directly.
/// </summary>
public interface IFrostingTask
{
    /// <summary>
    /// Gets the message shown (and written to the report) when <see cref="ShouldRun"/> returns <c>false</c>.
    /// It is read once, when the task is registered (before Setup), as in Cake.Frosting.
    /// </summary>
    /// <remarks>
    /// In a class derived from <see cref="FrostingTask{T}"/>, re-list the interface
    /// (<c>class MyTask : FrostingTask&lt;MyContext&gt;, IFrostingTask</c>) and declare a public
    /// <c>SkippedMessage</c> property: that form works here and with Cake.Frosting. This host also picks up a public
    /// <c>SkippedMessage</c> property declared without re-listing the interface.
    /// </remarks>
    string SkippedMessage => string.Empty;

    /// <summary>Runs the task.</summary>
    /// <param name="context">The context.</param>
    /// <returns>The asynchronous operation.</returns>
    Task RunAsync(ICakeContext context);

    /// <summary>Decides whether the task runs.</summary>
    /// <param name="context">The context.</param>
    /// <returns><c>true</c> if the task should run; otherwise <c>false</c>.</returns>
    bool ShouldRun(ICakeContext context);

    /// <summary>Handles an exception thrown by the task. Returning normally recovers the run; rethrow to keep it failed.</summary>
    /// <param name="exception">The exception.</param>
    /// <param name="context">The context.</param>
    void OnError(Exception exception, ICakeContext context);

    /// <summary>
    /// Handles an exception thrown by the task, asynchronously (the engine awaits it). Returning normally recovers the
    /// run; rethrow to keep it failed. By default it calls <see cref="OnError"/>.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <param name="context">The context.</param>
    /// <returns>The asynchronous operation.</returns>
    Task OnErrorAsync(Exception exception, ICakeContext context)
    {
        OnError(exception, context);
        return Task.CompletedTask;
    }

    /// <summary>Runs after the task, whether it succeeded or failed.</summary>
    /// <param name="context">The context.</param>
    void Finally(ICakeContext context);
}
