using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Base class for the setup of a run on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingSetup : FrostingSetup<ICakeContext>
{
}

/// <summary>Base class for the setup of a run.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public abstract class FrostingSetup<TContext> : IFrostingSetup
    where TContext : ICakeContext
{
    /// <summary>Runs before any task. If it fails no task runs, but teardown still does.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The setup information.</param>
    public abstract void Setup(TContext context, ISetupContext info);

    void IFrostingSetup.Setup(ICakeContext context, ISetupContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Setup((TContext)context, info);
    }
}
