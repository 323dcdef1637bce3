using System.Reflection;
using Cake.Core;

namespace Pipeline.Frosting.Internal;

/// <summary>Reflection over task types: discovery, names, context type, overridden members.</summary>
internal static class TaskTypes
{
    public static IEnumerable<Type> Discover(IEnumerable<Assembly> assemblies) =>
        assemblies
            .Distinct()
            .SelectMany(a => a.GetExportedTypes())
            .Where(t => t is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }
                && typeof(IFrostingTask).IsAssignableFrom(t));

    public static string GetTaskName(Type type) =>
        type.GetCustomAttribute<TaskNameAttribute>()?.Name ?? type.Name;

    public static bool IsAsync(Type type) => FindGenericBase(type, typeof(AsyncFrostingTask<>)) is not null;

    public static Type GetContextType(Type type) =>
        (FindGenericBase(type, typeof(FrostingTask<>)) ?? FindGenericBase(type, typeof(AsyncFrostingTask<>)))
            ?.GenericTypeArguments[0]
        ?? typeof(ICakeContext);

    /// <summary>Whether a subclass overrides the public virtual <paramref name="method"/> of its Frosting base class.</summary>
    public static bool Overrides(Type type, string method, params Type[] parameters)
    {
        var info = type.GetMethod(method, BindingFlags.Public | BindingFlags.Instance, null, parameters, null);
        if (info is null)
        {
            // Not a FrostingTask<T>/AsyncFrostingTask<T>: a direct IFrostingTask implementation always takes part.
            return !IsFrostingBase(type);
        }

        var declaring = info.GetBaseDefinition().DeclaringType;
        return info.DeclaringType != declaring;
    }

    private static bool IsFrostingBase(Type type) =>
        FindGenericBase(type, typeof(FrostingTask<>)) is not null || FindGenericBase(type, typeof(AsyncFrostingTask<>)) is not null;

    private static Type? FindGenericBase(Type type, Type openGeneric)
    {
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (current.IsGenericType && current.GetGenericTypeDefinition() == openGeneric)
            {
                return current;
            }
        }

        return null;
    }
}
