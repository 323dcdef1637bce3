using Cake.Core.IO;
using Microsoft.Extensions.DependencyInjection;

namespace Pipeline.Frosting;

/// <summary>Fluent configuration of a <see cref="CakeHost"/> (as Cake.Frosting's <c>CakeHostExtensions</c>).</summary>
public static class CakeHostExtensions
{
    /// <summary>Applies a startup type's service configuration.</summary>
    /// <typeparam name="TStartup">The startup type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseStartup<TStartup>(this CakeHost host)
        where TStartup : IFrostingStartup, new()
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.ConfigureServices(services => new TStartup().Configure(services));
    }

    /// <summary>Uses <typeparamref name="TContext"/> as the context of tasks and lifetimes (the last registration wins).</summary>
    /// <typeparam name="TContext">The context type; constructed through DI (usually from <c>ICakeContext</c>).</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseContext<TContext>(this CakeHost host)
        where TContext : class, IFrostingContext =>
        Configure(host, services => services.UseContext<TContext>());

    /// <summary>Registers the run's setup and teardown (the last registration wins).</summary>
    /// <typeparam name="TLifetime">The lifetime type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseLifetime<TLifetime>(this CakeHost host)
        where TLifetime : class, IFrostingLifetime =>
        Configure(host, services => services.UseLifetime<TLifetime>());

    /// <summary>Registers the run's setup.</summary>
    /// <typeparam name="TSetup">The setup type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseSetup<TSetup>(this CakeHost host)
        where TSetup : class, IFrostingSetup =>
        Configure(host, services => services.UseSetup<TSetup>());

    /// <summary>Registers the run's teardown.</summary>
    /// <typeparam name="TTeardown">The teardown type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseTeardown<TTeardown>(this CakeHost host)
        where TTeardown : class, IFrostingTeardown =>
        Configure(host, services => services.UseTeardown<TTeardown>());

    /// <summary>Registers the setup and teardown run around each task (the last registration wins).</summary>
    /// <typeparam name="TLifetime">The task lifetime type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseTaskLifetime<TLifetime>(this CakeHost host)
        where TLifetime : class, IFrostingTaskLifetime =>
        Configure(host, services => services.UseTaskLifetime<TLifetime>());

    /// <summary>Registers logic run before each task.</summary>
    /// <typeparam name="TSetup">The task setup type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseTaskSetup<TSetup>(this CakeHost host)
        where TSetup : class, IFrostingTaskSetup =>
        Configure(host, services => services.UseTaskSetup<TSetup>());

    /// <summary>Registers logic run after each task.</summary>
    /// <typeparam name="TTeardown">The task teardown type.</typeparam>
    /// <param name="host">The host.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseTaskTeardown<TTeardown>(this CakeHost host)
        where TTeardown : class, IFrostingTaskTeardown =>
        Configure(host, services => services.UseTaskTeardown<TTeardown>());

    /// <summary>Sets the working directory of the run (relative paths are resolved against the current directory); <c>--working</c> overrides it.</summary>
    /// <param name="host">The host.</param>
    /// <param name="path">The working directory.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseWorkingDirectory(this CakeHost host, DirectoryPath path) =>
        Configure(host, services => services.UseWorkingDirectory(path));

    /// <summary>Sets a Cake setting (as in cake.config, e.g. <c>Settings_ShowProcessCommandLine</c>); command-line arguments override it.</summary>
    /// <param name="host">The host.</param>
    /// <param name="key">The setting key.</param>
    /// <param name="value">The setting value.</param>
    /// <returns>The same host, for chaining.</returns>
    public static CakeHost UseCakeSetting(this CakeHost host, string key, string value) =>
        Configure(host, services => services.UseCakeSetting(key, value));

    private static CakeHost Configure(CakeHost host, Action<IServiceCollection> configure)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.ConfigureServices(configure);
    }
}
