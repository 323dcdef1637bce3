namespace Pipeline.Frosting;

/// <summary>
/// Gives a task the name used by <c>--target</c>, dependencies and the report.
/// Without it the task's class name is used.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class TaskNameAttribute : Attribute
{
    /// <summary>Initializes a new instance of the <see cref="TaskNameAttribute"/> class.</summary>
    /// <param name="name">The task name.</param>
    public TaskNameAttribute(string name) => Name = name;

    /// <summary>Gets the task name.</summary>
    public string Name { get; }
}
