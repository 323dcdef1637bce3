using Cake.Core.IO;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Frosting.Internal;

namespace Pipeline.Frosting;

/// <summary>Frosting registrations on an <see cref="IServiceCollection"/> (as Cake.Frosting's <c>ServiceCollectionExtensions</c>).</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>Uses <typeparamref name="TContext"/> as the Frosting context.</summary>
    /// <typeparam name="TContext">The context type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseContext<TContext>(this IServiceCollection services)
        where TContext : class, IFrostingContext =>
        services.AddSingleton<IFrostingContext, TContext>();

    /// <summary>Registers the run's setup and teardown.</summary>
    /// <typeparam name="TLifetime">The lifetime type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseLifetime<TLifetime>(this IServiceCollection services)
        where TLifetime : class, IFrostingLifetime
    {
        services.AddSingleton<IFrostingLifetime, TLifetime>();
        services.AddSingleton<IFrostingSetup>(s => s.GetRequiredService<IFrostingLifetime>());
        services.AddSingleton<IFrostingTeardown>(s => s.GetRequiredService<IFrostingLifetime>());
        return services;
    }

    /// <summary>Registers the run's setup.</summary>
    /// <typeparam name="TSetup">The setup type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseSetup<TSetup>(this IServiceCollection services)
        where TSetup : class, IFrostingSetup =>
        services.AddSingleton<IFrostingSetup, TSetup>();

    /// <summary>Registers the run's teardown.</summary>
    /// <typeparam name="TTeardown">The teardown type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseTeardown<TTeardown>(this IServiceCollection services)
        where TTeardown : class, IFrostingTeardown =>
        services.AddSingleton<IFrostingTeardown, TTeardown>();

    /// <summary>Registers the setup and teardown around each task.</summary>
    /// <typeparam name="TLifetime">The task lifetime type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseTaskLifetime<TLifetime>(this IServiceCollection services)
        where TLifetime : class, IFrostingTaskLifetime
    {
        services.AddSingleton<IFrostingTaskLifetime, TLifetime>();
        services.AddSingleton<IFrostingTaskSetup>(s => s.GetRequiredService<IFrostingTaskLifetime>());
        services.AddSingleton<IFrostingTaskTeardown>(s => s.GetRequiredService<IFrostingTaskLifetime>());
        return services;
    }

    /// <summary>Registers logic run before each task.</summary>
    /// <typeparam name="TSetup">The task setup type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseTaskSetup<TSetup>(this IServiceCollection services)
        where TSetup : class, IFrostingTaskSetup =>
        services.AddSingleton<IFrostingTaskSetup, TSetup>();

    /// <summary>Registers logic run after each task.</summary>
    /// <typeparam name="TTeardown">The task teardown type.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseTaskTeardown<TTeardown>(this IServiceCollection services)
        where TTeardown : class, IFrostingTaskTeardown =>
        services.AddSingleton<IFrostingTaskTeardown, TTeardown>();

    /// <summary>Sets the working directory of the run.</summary>
    /// <param name="services">The services.</param>
    /// <param name="path">The working directory.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseWorkingDirectory(this IServiceCollection services, DirectoryPath path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return services.AddSingleton(new WorkingDirectory(path));
    }

    /// <summary>Sets a Cake setting.</summary>
    /// <param name="services">The services.</param>
    /// <param name="key">The setting key.</param>
    /// <param name="value">The setting value.</param>
    /// <returns>The same services, for chaining.</returns>
    public static IServiceCollection UseCakeSetting(this IServiceCollection services, string key, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return services.AddSingleton(new FrostingConfigurationValue(key, value));
    }
}
