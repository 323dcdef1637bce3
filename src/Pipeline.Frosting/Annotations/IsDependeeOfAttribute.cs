namespace Pipeline.Frosting;

/// <summary>
/// Declares that another task depends on the decorated task (a reverse dependency):
/// the other task will run the decorated one first.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class IsDependeeOfAttribute : Attribute
{
    /// <summary>Initializes a new instance of the <see cref="IsDependeeOfAttribute"/> class.</summary>
    /// <param name="type">The task type that depends on this task.</param>
    public IsDependeeOfAttribute(Type type) => Task = type;

    /// <summary>Gets the task type that depends on this task.</summary>
    public Type Task { get; }
}
