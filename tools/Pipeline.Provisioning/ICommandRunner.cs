namespace Pipeline.Provisioning;

/// <summary>
/// Runs programs on the build machine: to completion (apt-get, mmdebstrap) or detached as daemons that outlive
/// the build (dockerd, docker-registry, etcd). A port so the provisioning decisions can be tested without a machine.
/// </summary>
public interface ICommandRunner
{
    /// <summary>The full path of a program found on PATH (or given as an absolute path), or null.</summary>
    string? FindExecutable(string name);

    /// <summary>Runs a program to completion and collects its output; a non-zero exit code is returned, not thrown.</summary>
    /// <param name="program">The program (name on PATH or absolute path).</param>
    /// <param name="arguments">Its arguments, passed as they are (no shell).</param>
    /// <param name="environment">Extra environment variables, or null.</param>
    /// <param name="onOutput">Receives each output line as it arrives (stdout and stderr), or null.</param>
    /// <param name="ct">Cancels the wait and kills the program.</param>
    Task<CommandResult> RunAsync(
        string program,
        IReadOnlyList<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null,
        Action<string>? onOutput = null,
        CancellationToken ct = default);

    /// <summary>
    /// Starts a program in its own session, detached from the build (it keeps running when the build ends), with
    /// stdout and stderr appended to <paramref name="logFile"/>; returns its process id.
    /// </summary>
    Task<int> StartDetachedAsync(string program, IReadOnlyList<string> arguments, string logFile, CancellationToken ct = default);

    /// <summary>True while the process with this id is alive.</summary>
    bool IsRunning(int processId);
}

/// <summary>How a program ended.</summary>
/// <param name="Command">The command line, for messages.</param>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="Output">Its stdout and stderr, interleaved as they arrived.</param>
public sealed record CommandResult(string Command, int ExitCode, string Output)
{
    /// <summary>True when the exit code is 0.</summary>
    public bool Succeeded => ExitCode == 0;

    /// <summary>Throws <see cref="ProvisioningException"/> naming the command, its exit code and indented output unless it succeeded.</summary>
    public CommandResult EnsureSuccess(string what)
    {
        if (!Succeeded)
        {
            throw new ProvisioningException($"{what} failed: `{Command}` exited with {ExitCode}.{ProvisioningException.Indent(Output)}");
        }

        return this;
    }
}

/// <summary>Provisioning the local services or base images failed; the message says what, where, and what to do.</summary>
public sealed class ProvisioningException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Output quoted after a message: nothing when blank, else its last <paramref name="maxLines"/> lines on lines of their own, indented.</summary>
    internal static string Indent(string? text, int maxLines = 40) =>
        string.IsNullOrWhiteSpace(text) ? "" : "\n" + Pipeline.Indent.Text(text, lastLines: maxLines);
}
