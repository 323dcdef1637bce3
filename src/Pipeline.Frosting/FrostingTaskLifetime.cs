using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Base class for the setup and teardown around each task on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingTaskLifetime : FrostingTaskLifetime<ICakeContext>
{
}

/// <summary>Base class for the setup and teardown around each task.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public abstract class FrostingTaskLifetime<TContext> : IFrostingTaskLifetime
    where TContext : ICakeContext
{
    /// <summary>Runs before each task. If it fails the task does not run, but its task teardown does.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The setup information.</param>
    public abstract void Setup(TContext context, ITaskSetupContext info);

    /// <summary>Runs after each task, whether it succeeded, failed or was skipped.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The teardown information.</param>
    public abstract void Teardown(TContext context, ITaskTeardownContext info);

    void IFrostingTaskSetup.Setup(ICakeContext context, ITaskSetupContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Setup((TContext)context, info);
    }

    void IFrostingTaskTeardown.Teardown(ICakeContext context, ITaskTeardownContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Teardown((TContext)context, info);
    }
}
