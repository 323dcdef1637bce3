namespace Pipeline.Frosting;

/// <summary>Describes a task; shown by <c>--description</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class TaskDescriptionAttribute : Attribute
{
    /// <summary>Initializes a new instance of the <see cref="TaskDescriptionAttribute"/> class.</summary>
    /// <param name="description">The description.</param>
    public TaskDescriptionAttribute(string description) => Description = description;

    /// <summary>Gets the description.</summary>
    public string Description { get; }
}
