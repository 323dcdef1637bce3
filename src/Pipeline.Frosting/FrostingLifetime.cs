using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Base class for the setup and teardown of a run on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingLifetime : FrostingLifetime<ICakeContext>
{
}

/// <summary>Base class for the setup and teardown of a run.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public abstract class FrostingLifetime<TContext> : IFrostingLifetime
    where TContext : ICakeContext
{
    /// <summary>Runs before any task. If it fails no task runs, but teardown still does.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The setup information.</param>
    public abstract void Setup(TContext context, ISetupContext info);

    /// <summary>Runs after all tasks, also when a setup or task failed.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The teardown information.</param>
    public abstract void Teardown(TContext context, ITeardownContext info);

    void IFrostingSetup.Setup(ICakeContext context, ISetupContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Setup((TContext)context, info);
    }

    void IFrostingTeardown.Teardown(ICakeContext context, ITeardownContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Teardown((TContext)context, info);
    }
}
