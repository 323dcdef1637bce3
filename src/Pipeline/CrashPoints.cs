using System.Diagnostics;

namespace Pipeline;

/// <summary>
/// Named points where a run can be made to die on purpose, as if killed with SIGKILL there (no handler, no rollback, no
/// lock release): for crash-recovery tests of states a kill from outside cannot hit reliably. A run dies at the points
/// listed in the environment variable <c>PIPELINE_CRASH_AT</c> (comma-separated); without it, nothing happens.
/// </summary>
public static class CrashPoints
{
    /// <summary>The environment variable naming the points to die at.</summary>
    public const string Variable = "PIPELINE_CRASH_AT";

    /// <summary>SwitchProxy: the proxy answers from the new colour (changed at runtime), its config file is not written yet.</summary>
    public const string ProxyRuntimeSwitched = "proxy-runtime-switched";

    /// <summary>Kills this process when <paramref name="point"/> is listed in <see cref="Variable"/>.</summary>
    public static void Reached(string point)
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } listed
            && listed.Split(',', StringSplitOptions.TrimEntries).Contains(point, StringComparer.Ordinal))
        {
            Console.Out.WriteLine($"Crash point {point} reached: killing this process ({Variable}={listed}).");
            Console.Out.Flush();
            using var self = Process.GetCurrentProcess();
            self.Kill();
        }
    }
}
