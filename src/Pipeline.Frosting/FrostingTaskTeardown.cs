using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Base class for logic run after each task on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingTaskTeardown : FrostingTaskTeardown<ICakeContext>
{
}

/// <summary>Base class for logic run after each task.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public abstract class FrostingTaskTeardown<TContext> : IFrostingTaskTeardown
    where TContext : ICakeContext
{
    /// <summary>Runs after each task, whether it succeeded, failed or was skipped.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The teardown information.</param>
    public abstract void Teardown(TContext context, ITaskTeardownContext info);

    void IFrostingTaskTeardown.Teardown(ICakeContext context, ITaskTeardownContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Teardown((TContext)context, info);
    }
}
