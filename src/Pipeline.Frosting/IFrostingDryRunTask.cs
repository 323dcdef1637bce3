using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>
/// Beyond Cake.Frosting: a task that can say what it would do. On <c>--dryrun</c> the host lists the tasks that would
/// run (as Cake does), then awaits <see cref="DryRunAsync"/> of each of them that implements this interface, in the
/// order they would run. Nothing else of the task runs.
/// </summary>
public interface IFrostingDryRunTask
{
    /// <summary>Says what the task would do now; must change nothing.</summary>
    /// <param name="context">The context.</param>
    /// <returns>The asynchronous operation.</returns>
    Task DryRunAsync(ICakeContext context);
}
