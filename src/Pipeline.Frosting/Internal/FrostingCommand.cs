using Cake.Cli;
using Cake.Cli.Infrastructure;
using Cake.Core;
using Cake.Core.Diagnostics;
using Cake.Core.IO;
using Cake.Core.Scripting;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console.Cli;

namespace Pipeline.Frosting.Internal;

/// <summary>The single command of a Frosting program: run (or dry-run, or describe) the targets.</summary>
internal sealed class FrostingCommand(HostRun run) : AsyncCommand<HostSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, HostSettings settings, CancellationToken cancellationToken)
    {
        var targets = settings.GetTargets();
        var services = run.Services;
        services.AddSingleton<ICakeArguments>(context.Remaining.ToCakeArguments([.. targets]));
        services.AddSingleton(context.Remaining);

        await using var provider = services.BuildServiceProvider();
        ICakeLog? log = null;
        try
        {
            if (settings.Version)
            {
                provider.GetRequiredService<VersionFeature>().Run(provider.GetRequiredService<IConsole>());
                return 0;
            }

            if (settings.Info)
            {
                provider.GetRequiredService<InfoFeature>().Run(provider.GetRequiredService<IConsole>());
                return 0;
            }

            log = provider.GetRequiredService<ICakeLog>();
            log.Verbosity = settings.Verbosity;

            SetWorkingDirectory(provider, settings);

            var host = GetScriptHost(provider, settings);
            provider.GetRequiredService<TaskRegistrar>().Register();
            TargetOrder.Chain(provider.GetRequiredService<ICakeEngine>(), targets);
            if (settings.Exclusive)
            {
                host.Settings.UseExclusiveTarget();
            }

            await host.RunTargetsAsync(targets).ConfigureAwait(false);
            if (settings.DryRun)
            {
                await DescribeDryRunAsync(provider, targets).ConfigureAwait(false);
            }

            return 0;
        }
        catch (Exception exception)
        {
            log ??= provider.GetService<ICakeLog>();
            return ErrorReport.Write(log, exception);
        }
    }

    /// <summary>
    /// After Cake's list of the tasks a dry run would run: each of them that implements <see cref="IFrostingDryRunTask"/>
    /// says what it would do, in the order they would run.
    /// </summary>
    private static async Task DescribeDryRunAsync(IServiceProvider provider, IReadOnlyList<string> targets)
    {
        var engine = provider.GetRequiredService<ICakeEngine>();
        var context = provider.GetRequiredService<IFrostingContext>();
        var byName = provider.GetServices<IFrostingTask>()
            .GroupBy(t => TaskTypes.GetTaskName(t.GetType()), StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        var infos = engine.Tasks.ToDictionary(t => t.Name, StringComparer.OrdinalIgnoreCase);
        var order = new List<string>();
        void Visit(string name)
        {
            if (order.Contains(name, StringComparer.OrdinalIgnoreCase) || !infos.TryGetValue(name, out var info))
            {
                return;
            }

            foreach (var dependency in info.Dependencies)
            {
                Visit(dependency.Name);
            }

            order.Add(info.Name);
        }

        foreach (var target in targets)
        {
            Visit(target);
        }

        foreach (var name in order)
        {
            if (byName.GetValueOrDefault(name) is IFrostingDryRunTask describes)
            {
                await describes.DryRunAsync(context).ConfigureAwait(false);
            }
        }
    }

    private static IScriptHost GetScriptHost(IServiceProvider provider, HostSettings settings)
    {
        if (settings.DryRun)
        {
            return provider.GetRequiredService<DryRunScriptHost<IFrostingContext>>();
        }

        if (settings.Tree)
        {
            return provider.GetRequiredService<TreeScriptHost>();
        }

        if (settings.Description)
        {
            return provider.GetRequiredService<DescriptionScriptHost>();
        }

        return provider.GetRequiredService<BuildScriptHost<IFrostingContext>>();
    }

    private static void SetWorkingDirectory(IServiceProvider provider, HostSettings settings)
    {
        var fileSystem = provider.GetRequiredService<IFileSystem>();
        var environment = provider.GetRequiredService<ICakeEnvironment>();

        var directory = settings.WorkingDirectory ?? provider.GetService<WorkingDirectory>()?.Path;
        directory = directory?.MakeAbsolute(environment) ?? environment.WorkingDirectory;
        if (!fileSystem.Exist(directory))
        {
            throw new FrostingException($"The working directory '{directory.FullPath}' does not exist.");
        }

        environment.WorkingDirectory = directory;
    }
}
