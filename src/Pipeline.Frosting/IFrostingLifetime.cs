using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>Logic run once before any task (Setup).</summary>
public interface IFrostingSetup
{
    /// <summary>Runs before any task. If it fails no task runs, but teardown still does.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The setup information (target, tasks to execute).</param>
    void Setup(ICakeContext context, ISetupContext info);
}

/// <summary>Logic run once after all tasks (Teardown), also after a failure.</summary>
public interface IFrostingTeardown
{
    /// <summary>Runs after all tasks, whether they succeeded or not.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The teardown information (success, thrown exception).</param>
    void Teardown(ICakeContext context, ITeardownContext info);
}

/// <summary>Setup and teardown of a whole run.</summary>
public interface IFrostingLifetime : IFrostingSetup, IFrostingTeardown
{
}

/// <summary>Logic run before each task.</summary>
public interface IFrostingTaskSetup
{
    /// <summary>Runs before each task. If it fails the task does not run, but its task teardown does.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The task setup information.</param>
    void Setup(ICakeContext context, ITaskSetupContext info);
}

/// <summary>Logic run after each task.</summary>
public interface IFrostingTaskTeardown
{
    /// <summary>Runs after each task, whether it succeeded, failed or was skipped.</summary>
    /// <param name="context">The context.</param>
    /// <param name="info">The task teardown information.</param>
    void Teardown(ICakeContext context, ITaskTeardownContext info);
}

/// <summary>Setup and teardown around each task.</summary>
public interface IFrostingTaskLifetime : IFrostingTaskSetup, IFrostingTaskTeardown
{
}
