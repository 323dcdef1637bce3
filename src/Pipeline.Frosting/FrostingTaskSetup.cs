using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Base class for logic run before each task on the plain <see cref="ICakeContext"/>.</summary>
public abstract class FrostingTaskSetup : FrostingTaskSetup<ICakeContext>
{
}

/// <summary>Base class for logic run before each task.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public abstract class FrostingTaskSetup<TContext> : IFrostingTaskSetup
    where TContext : ICakeContext
{
    /// <summary>Runs before each task. If it fails the task does not run, but its task teardown does.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The setup information.</param>
    public abstract void Setup(TContext context, ITaskSetupContext info);

    void IFrostingTaskSetup.Setup(ICakeContext context, ITaskSetupContext info)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(info);
        Setup((TContext)context, info);
    }
}
