using System.Globalization;
using System.Text;
using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>
/// One <c>/bin/sh</c> in the proxy container, kept open for the deploy: file reads and writes, moves and validator runs
/// go through it as commands instead of one engine exec (three requests) or archive transfer each. Each command's
/// stdout ends at a marker the shell prints with its exit code; files go in base64 (no quoting of their content).
/// </summary>
internal sealed class ShellSession : IAsyncDisposable, IDisposable
{
    private const char Separator = '\u001e';
    private const string Marker = "pipeline-command-done";
    private readonly SessionBuffer _buffer;
    private readonly byte[] _end = Encoding.ASCII.GetBytes($"{Separator}{Marker} ");

    private ShellSession(SessionBuffer buffer) => _buffer = buffer;

    public static async Task<ShellSession> OpenAsync(IDockerEngine engine, string containerId, CancellationToken ct)
    {
        var exec = await engine.StartSessionAsync(containerId, ["/bin/sh"], ct).ConfigureAwait(false);
        return new ShellSession(new SessionBuffer(exec));
    }

    /// <summary>Runs <paramref name="script"/> (one or more shell lines); returns its exit code and stdout.</summary>
    public async Task<(int ExitCode, string Stdout)> RunAsync(string script, CancellationToken ct)
    {
        var stderrBefore = _buffer.Session.Stderr.Length;
        await _buffer.Session.WriteAsync(Encoding.UTF8.GetBytes($"{script}\nprintf '\\036{Marker} %d\\n' $?\n"), ct).ConfigureAwait(false);
        var stdout = await _buffer.ReadUntilAsync(_end, ct).ConfigureAwait(false);
        var code = Encoding.ASCII.GetString(await _buffer.ReadUntilAsync("\n"u8.ToArray(), ct).ConfigureAwait(false));
        return (int.Parse(code, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture), Encoding.UTF8.GetString(stdout));
    }

    /// <summary>What the shell wrote to stderr since <see cref="RunAsync"/> started the last command (for messages).</summary>
    public string Stderr => _buffer.Session.Stderr;

    /// <summary>A shell word that stands for <paramref name="value"/> exactly (single-quoted).</summary>
    public static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>A script that writes <paramref name="content"/> to <paramref name="path"/> (created or replaced, mode 644).</summary>
    public static string WriteFile(string path, byte[] content)
    {
        var script = new StringBuilder();
        script.Append("base64 -d > ").Append(Quote(path)).Append(" <<'PIPELINE_FILE_END'\n");
        var encoded = Convert.ToBase64String(content);
        for (var i = 0; i < encoded.Length; i += 76)
        {
            script.Append(encoded, i, Math.Min(76, encoded.Length - i)).Append('\n');
        }

        script.Append("PIPELINE_FILE_END\n");
        return script.ToString();
    }

    public ValueTask DisposeAsync() => _buffer.Session.DisposeAsync();

    public void Dispose() => _buffer.Session.Dispose();
}
