namespace Pipeline.Frosting;

/// <summary>Declares that the decorated task runs after (and requires) another task.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class IsDependentOnAttribute : Attribute
{
    /// <summary>Initializes a new instance of the <see cref="IsDependentOnAttribute"/> class.</summary>
    /// <param name="type">The task type this task depends on.</param>
    public IsDependentOnAttribute(Type type) => Task = type;

    /// <summary>Gets the task type this task depends on.</summary>
    public Type Task { get; }
}
