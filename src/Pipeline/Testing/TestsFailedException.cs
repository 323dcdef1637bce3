namespace Pipeline.Testing;

/// <summary>
/// A test container exited with a non-zero code (or ran out of time). The message names the test type, the
/// service, version and colour, the exit code and the last lines of output, indented.
/// </summary>
public sealed class TestsFailedException : Exception
{
    /// <summary>Creates the exception for tests that exited with <paramref name="exitCode"/>, or timed out when it is null.</summary>
    /// <param name="run">The run that failed.</param>
    /// <param name="exitCode">The container's exit code, or null when it was stopped after <see cref="TestRun.Timeout"/>.</param>
    /// <param name="outputTail">The last lines the tests wrote, oldest first.</param>
    public TestsFailedException(TestRun run, long? exitCode, IReadOnlyList<string> outputTail)
        : base(FormatMessage(run, exitCode, outputTail))
    {
        Run = run;
        ExitCode = exitCode;
        OutputTail = outputTail;
    }

    /// <summary>The run that failed.</summary>
    public TestRun Run { get; }

    /// <summary>Which tests failed.</summary>
    public TestType TestType => Run.Type;

    /// <summary>The container's exit code; null when the tests ran out of time.</summary>
    public long? ExitCode { get; }

    /// <summary>The last lines of output, oldest first.</summary>
    public IReadOnlyList<string> OutputTail { get; }

    private static string FormatMessage(TestRun run, long? exitCode, IReadOnlyList<string> tail)
    {
        var what = exitCode is { } code
            ? $"{run.Description} exited with {code}"
            : $"{run.Description} did not finish within {run.Timeout}; the container was stopped";
        return tail.Count == 0
            ? $"{what} (no output)."
            : $"{what}:\n{Indent.Lines(tail)}";
    }
}
