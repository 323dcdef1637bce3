using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Base class for the teardown of a run on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingTeardown : FrostingTeardown<ICakeContext>
{
}

/// <summary>Base class for the teardown of a run.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public abstract class FrostingTeardown<TContext> : IFrostingTeardown
    where TContext : ICakeContext
{
    /// <summary>Runs after all tasks, also when a setup or task failed.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The teardown information.</param>
    public abstract void Teardown(TContext context, ITeardownContext info);

    void IFrostingTeardown.Teardown(ICakeContext context, ITeardownContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Teardown((TContext)context, info);
    }
}
