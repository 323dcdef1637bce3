using Cake.Core;

namespace Pipeline.Frosting;

/// <summary>The context handed to Frosting tasks and lifetimes. Register your own with <see cref="CakeHostExtensions.UseContext{TContext}"/>.</summary>
public interface IFrostingContext : ICakeContext
{
}
