using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Frosting;

namespace Pipeline.Tests.Frosting;

/// <summary>What a run printed and returned.</summary>
internal sealed record HostResult(int ExitCode, string Out, string Error)
{
    public string All => Out + Error;
}

/// <summary>Records what tasks and lifetimes did, in order; registered as a singleton so tasks get it by constructor.</summary>
internal sealed class Journal
{
    private readonly List<string> _entries = [];

    public IReadOnlyList<string> Entries => _entries;

    public void Add(string entry) => _entries.Add(entry);
}

/// <summary>
/// Runs a <see cref="CakeHost"/> in-process with Console.Out/Error captured (ANSI escapes removed).
/// Test tasks are private nested classes registered by type, so they never leak into another test's
/// <c>AddAssembly(testAssembly)</c> and their names only need to be unique within one run.
/// </summary>
internal static partial class FrostingHarness
{
    private static readonly Lock Gate = new();

    public static HostResult Run(Journal journal, Type[] tasks, Action<CakeHost>? configure, params string[] args)
    {
        lock (Gate)
        {
            // Cake sets the process' current directory to the run's working directory: restore it.
            var (stdout, stderr, directory) = (Console.Out, Console.Error, Environment.CurrentDirectory);
            using var capturedOut = new StringWriter();
            using var capturedError = new StringWriter();
            Console.SetOut(capturedOut);
            Console.SetError(capturedError);
            try
            {
                var host = new CakeHost().ConfigureServices(services =>
                {
                    services.AddSingleton(journal);
                    foreach (var task in tasks)
                    {
                        services.AddSingleton(typeof(IFrostingTask), task);
                    }
                });
                configure?.Invoke(host);
                var exitCode = host.Run(args);
                return new HostResult(exitCode, Clean(capturedOut), Clean(capturedError));
            }
            finally
            {
                Console.SetOut(stdout);
                Console.SetError(stderr);
                Environment.CurrentDirectory = directory;
            }
        }
    }

    public static HostResult Run(Journal journal, Type[] tasks, params string[] args) => Run(journal, tasks, null, args);

    private static string Clean(StringWriter writer) => Ansi().Replace(writer.ToString(), string.Empty);

    [GeneratedRegex(@"\x1B\[[0-9;?]*[ -/]*[@-~]")]
    private static partial Regex Ansi();
}
