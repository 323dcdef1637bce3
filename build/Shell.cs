using System.Diagnostics;
using Cake.Core;
using Cake.Core.Diagnostics;

namespace Build;

/// <summary>Runs a program, streaming its output into the build log.</summary>
internal static class Shell
{
    public static void Run(ICakeContext context, string program, params string[] arguments) => Run(context, program, arguments, null);

    /// <summary>Runs a program with extra environment variables (not logged: they may name secrets' files).</summary>
    public static void Run(ICakeContext context, string program, string[] arguments, IReadOnlyDictionary<string, string>? environment)
    {
        context.Log.Information($"> {program} {string.Join(' ', arguments)}");
        var start = new ProcessStartInfo(program, arguments) { WorkingDirectory = context.Environment.WorkingDirectory.FullPath };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new CakeException($"Could not start {program}.");
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new CakeException(process.ExitCode, $"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}.");
        }
    }
}
