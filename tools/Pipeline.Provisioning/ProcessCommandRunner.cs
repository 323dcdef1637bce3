using System.Diagnostics;
using System.Text;

namespace Pipeline.Provisioning;

/// <summary>Runs programs with <see cref="Process"/>; detached programs are started through <c>setsid</c>.</summary>
/// <param name="time">The clock for waiting on a detached program's pid; the system clock by default.</param>
public sealed class ProcessCommandRunner(TimeProvider? time = null) : ICommandRunner
{
    /// <summary>How long the launching shell may take to write the detached program's pid.</summary>
    private static readonly TimeSpan PidFileTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How often the pid file is checked while waiting for it.</summary>
    private static readonly TimeSpan PidFilePollInterval = TimeSpan.FromMilliseconds(10);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public string? FindExecutable(string name)
    {
        if (Path.IsPathRooted(name))
        {
            return File.Exists(name) ? name : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var dirs = path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <inheritdoc />
    public async Task<CommandResult> RunAsync(
        string program,
        IReadOnlyList<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null,
        Action<string>? onOutput = null,
        CancellationToken ct = default)
    {
        var commandLine = Format(program, arguments);
        var info = new ProcessStartInfo(FindExecutable(program) ?? program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }

            onOutput?.Invoke(line);
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new CommandResult(commandLine, 127, $"cannot start {program}: {e.Message}");
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        process.WaitForExit(); // drains the output events
        lock (output)
        {
            return new CommandResult(commandLine, process.ExitCode, output.ToString());
        }
    }

    /// <inheritdoc />
    public async Task<int> StartDetachedAsync(string program, IReadOnlyList<string> arguments, string logFile, CancellationToken ct = default)
    {
        // setsid(1) forks when its caller leads a process group (job control, timeout(1), …), so $! is not always
        // the daemon. The inner shell is the new session's leader whatever setsid did: it writes its own pid,
        // then execs the daemon under that pid. Output goes to the log, not to our pipes, and the new session
        // keeps the daemon alive (and away from Ctrl+C) after the build ends.
        const string script = "log=$1; pidfile=$2; shift 2; setsid sh -c 'echo $$ >\"$0\"; exec \"$@\"' \"$pidfile\" \"$@\" >>\"$log\" 2>&1 </dev/null &";
        var pidFile = Path.Combine(Path.GetTempPath(), $"pipeline-start-{Guid.NewGuid():N}.pid");
        var info = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["-c", script, "sh", logFile, pidFile, FindExecutable(program) ?? program, .. arguments])
        {
            info.ArgumentList.Add(argument);
        }

        using var shell = Process.Start(info) ?? throw new ProvisioningException($"Could not start /bin/sh to launch {program}.");
        var stdout = shell.StandardOutput.ReadToEndAsync(ct);
        var stderr = shell.StandardError.ReadToEndAsync(ct);
        await shell.WaitForExitAsync(ct).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false);
        var since = _time.GetTimestamp();
        var pid = 0;
        while (shell.ExitCode == 0 && _time.GetElapsedTime(since) < PidFileTimeout
               && !(File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile, ct).ConfigureAwait(false)).Trim(), out pid)))
        {
            await Task.Delay(PidFilePollInterval, _time, ct).ConfigureAwait(false);
        }

        File.Delete(pidFile);
        if (pid == 0)
        {
            throw new ProvisioningException($"Could not start `{Format(program, arguments)}` detached (exit code {shell.ExitCode}).{ProvisioningException.Indent(output)}");
        }

        return pid;
    }

    /// <inheritdoc />
    public bool IsRunning(int processId)
    {
        // A zombie (exited, not yet reaped by its new parent) counts as stopped.
        var stat = $"/proc/{processId}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            var state = text[(text.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException)
        {
            return false;
        }
    }

    internal static string Format(string program, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { program }.Concat(arguments).Select(a => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=,@+".Contains(c)) ? a : $"'{a.Replace("'", "'\\''")}'"));
}
