using System.Diagnostics;

namespace Pipeline.Bench;

/// <summary>A run of bench/baseline.sh: exit code, wall time and its output (shown only when it fails).</summary>
internal sealed record BaselineRunResult(int ExitCode, TimeSpan Wall, string Output);

/// <summary>Runs bench/baseline.sh (it sits next to the bench's project file) with the given environment.</summary>
internal static class BaselineRunner
{
    /// <summary>The script, relative to the repository root.</summary>
    public static readonly string Script = Path.Combine("bench", "baseline.sh");

    public static async Task<BaselineRunResult> RunAsync(string repositoryRoot, IReadOnlyDictionary<string, string> environment, CancellationToken ct = default)
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(repositoryRoot, Script)])
        {
            WorkingDirectory = repositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash could not be started.");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var wall = Stopwatch.GetElapsedTime(started);
        return new BaselineRunResult(process.ExitCode, wall, (await stdout) + (await stderr));
    }
}
