namespace Pipeline.Frosting;

/// <summary>
/// Lets the run continue when the decorated task fails: the error is logged and the task is reported as failed.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ContinueOnErrorAttribute : Attribute
{
}
