using System.Reflection;
using Cake.Cli;
using Cake.Common.Modules;
using Cake.Core;
using Cake.Core.Configuration;
using Cake.Core.Diagnostics;
using Cake.Core.Modules;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Pipeline.Frosting.Internal;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Pipeline.Frosting;

/// <summary>
/// The Cake host: finds the tasks, parses the command line (<c>--target</c>, <c>--verbosity</c>, <c>--dryrun</c>, ...)
/// and runs them on Cake's engine. Same surface and behaviour as Cake.Frosting's <c>CakeHost</c>.
/// </summary>
/// <example>
/// <code>
/// return new CakeHost()
///     .UseContext&lt;BuildContext&gt;()
///     .Run(args);
/// </code>
/// </example>
public sealed class CakeHost
{
    private readonly IServiceCollection _services;
    private readonly List<Assembly> _assemblies = [];

    /// <summary>Initializes a new instance of the <see cref="CakeHost"/> class; tasks of the entry assembly are included.</summary>
    public CakeHost()
    {
        _services = CreateServiceCollection();
        if (Assembly.GetEntryAssembly() is { } entry)
        {
            _assemblies.Add(entry);
        }
    }

    /// <summary>Creates a <see cref="CakeHost"/>.</summary>
    /// <returns>The created host.</returns>
    public static CakeHost Create() => new();

    /// <summary>Adds an assembly whose public task classes are registered (all of them).</summary>
    /// <param name="assembly">The assembly.</param>
    /// <returns>The same host, for chaining.</returns>
    public CakeHost AddAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        _assemblies.Add(assembly);
        return this;
    }

    /// <summary>Configures the services the tasks, context and lifetimes are constructed from.</summary>
    /// <param name="services">A delegate configuring the service collection.</param>
    /// <returns>The same host, for chaining.</returns>
    public CakeHost ConfigureServices(Action<IServiceCollection> services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services(_services);
        return this;
    }

    /// <summary>Runs the build with the command-line arguments.</summary>
    /// <param name="args">The arguments, e.g. <c>--target=Deploy --verbosity=verbose --service-dir=examples/hello</c>.</param>
    /// <returns>The exit code: 0 on success; on failure the <see cref="CakeException.ExitCode"/> of the exception that ended the run, else 1.</returns>
    public int Run(IEnumerable<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);

        foreach (var task in TaskTypes.Discover(_assemblies))
        {
            _services.AddSingleton(typeof(IFrostingTask), task);
        }

        // Created per run, over the current Console.Out, so redirected output (tests, pipes) is honoured.
        var console = CreateConsole();
        _services.TryAddSingleton(console);

        var registrar = new TypeRegistrar();
        registrar.RegisterInstance(typeof(HostRun), new HostRun(_services, console));

        var app = new CommandApp<FrostingCommand>(registrar);
        app.Configure(config =>
        {
            config.ConfigureConsole(console);
            config.Settings.StrictParsing = false;
        });

        return app.Run(args);
    }

    private static IAnsiConsole CreateConsole()
    {
        var noColor = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        return AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = noColor ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = noColor ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Out = new AnsiConsoleOutput(Console.Out),
        });
    }

    private static ServiceCollection CreateServiceCollection()
    {
        var services = new ServiceCollection();

        Cake.Cli.ServiceCollectionExtensions.UseModule<CoreModule>(services);
        Cake.Cli.ServiceCollectionExtensions.UseModule<CommonModule>(services);

        services.AddSingleton<IConsole, CakeConsole>();
        services.AddSingleton<ICakeLog>(s => new CakeBuildLog(s.GetRequiredService<IConsole>(), Verbosity.Normal));
        services.AddSingleton<CakeSpectreReportPrinter>();
        services.AddSingleton<ICakeReportPrinter, QuietReportPrinter>();
        services.AddSingleton<ICakeConfiguration, FrostingConfiguration>();

        services.AddSingleton<BuildScriptHost<IFrostingContext>>();
        services.AddSingleton<DryRunScriptHost<IFrostingContext>>();
        services.AddSingleton<TreeScriptHost>();
        services.AddSingleton<DescriptionScriptHost>();

        services.AddSingleton<IVersionResolver, VersionResolver>();
        services.AddSingleton<VersionFeature>();
        services.AddSingleton<InfoFeature>();

        services.AddSingleton<TaskRegistrar>();

        services.AddSingleton<FrostingContext>();
        services.AddSingleton<IFrostingContext>(s => s.GetRequiredService<FrostingContext>());

        return services;
    }
}
