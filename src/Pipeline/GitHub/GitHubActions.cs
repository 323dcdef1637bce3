using System.Text;

namespace Pipeline.GitHub;

/// <summary>
/// The GitHub Actions runner a run is in (<c>GITHUB_ACTIONS=true</c>): workflow commands on standard output (groups,
/// masks, annotations within GitHub's limits of <see cref="MaxErrors"/> errors and <see cref="MaxWarnings"/> warnings per
/// step: the rest are kept for the job summary), the job summary (<c>$GITHUB_STEP_SUMMARY</c>, kept under
/// <see cref="MaxSummaryBytes"/>) and step outputs (<c>$GITHUB_OUTPUT</c>). A file that cannot be written is a warning,
/// never a failure of the run.
/// </summary>
public sealed class GitHubActions
{
    /// <summary>Error annotations GitHub shows per step.</summary>
    public const int MaxErrors = 10;

    /// <summary>Warning annotations GitHub shows per step.</summary>
    public const int MaxWarnings = 10;

    /// <summary>The largest job summary GitHub accepts per step: 1 MiB.</summary>
    public const int MaxSummaryBytes = 1024 * 1024;

    private readonly TextWriter _out;
    private readonly HashSet<string> _masked = new(StringComparer.Ordinal);
    private readonly List<string> _overflow = [];
    private int _errors;
    private int _warnings;
    private string? _openGroup;

    private GitHubActions(TextWriter output, string? summaryPath, string? outputPath)
    {
        _out = output;
        SummaryPath = summaryPath;
        OutputPath = outputPath;
    }

    /// <summary>The job summary file (<c>$GITHUB_STEP_SUMMARY</c>), or null.</summary>
    public string? SummaryPath { get; }

    /// <summary>The step outputs file (<c>$GITHUB_OUTPUT</c>), or null.</summary>
    public string? OutputPath { get; }

    /// <summary>Annotations beyond GitHub's per-step limits, as <c>error: title: message</c> lines, for the summary.</summary>
    public IReadOnlyList<string> Overflow => _overflow;

    /// <summary>The runner when <c>GITHUB_ACTIONS</c> is <c>true</c>; otherwise null.</summary>
    /// <param name="environment">Reads an environment variable.</param>
    /// <param name="output">Where workflow commands go (standard output, which the runner reads).</param>
    public static GitHubActions? Detect(Func<string, string?> environment, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return string.Equals(environment("GITHUB_ACTIONS"), "true", StringComparison.OrdinalIgnoreCase)
            ? new GitHubActions(output, NonEmpty(environment("GITHUB_STEP_SUMMARY")), NonEmpty(environment("GITHUB_OUTPUT")))
            : null;

        static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
    }

    /// <summary>Tells the runner to hide <paramref name="secret"/> wherever it appears in the log (once per value).</summary>
    public void Mask(string? secret)
    {
        if (!string.IsNullOrWhiteSpace(secret) && _masked.Add(secret))
        {
            // A multi-line secret is masked line by line, as the runner matches lines.
            foreach (var line in secret.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0))
            {
                Write(WorkflowCommands.Format("add-mask", line));
            }
        }
    }

    /// <summary>Starts a collapsible group (ending one still open).</summary>
    public void StartGroup(string title)
    {
        EndGroup();
        Write(WorkflowCommands.Format("group", title));
        _openGroup = title;
    }

    /// <summary>Ends the open group, if any.</summary>
    public void EndGroup()
    {
        if (_openGroup is not null)
        {
            Write("::endgroup::");
            _openGroup = null;
        }
    }

    /// <summary>An error annotation; beyond <see cref="MaxErrors"/> it goes to <see cref="Overflow"/>.</summary>
    public void Error(string title, string message) => Annotate("error", title, message, ref _errors, MaxErrors);

    /// <summary>A warning annotation; beyond <see cref="MaxWarnings"/> it goes to <see cref="Overflow"/>.</summary>
    public void Warning(string title, string message) => Annotate("warning", title, message, ref _warnings, MaxWarnings);

    /// <summary>
    /// Appends Markdown to the job summary, cut so the file stays under <see cref="MaxSummaryBytes"/>. Returns null when
    /// written, else why not (no <c>$GITHUB_STEP_SUMMARY</c>, or the file cannot be written).
    /// </summary>
    public string? AppendSummary(string markdown)
    {
        if (SummaryPath is null)
        {
            return "GITHUB_STEP_SUMMARY is not set";
        }

        try
        {
            var existing = File.Exists(SummaryPath) ? new FileInfo(SummaryPath).Length : 0;
            File.AppendAllText(SummaryPath, Fit(markdown, MaxSummaryBytes - existing), new UTF8Encoding(false));
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            return $"could not write the job summary to {SummaryPath}: {e.Message}";
        }
    }

    /// <summary>Appends step outputs (multiline-safe). Returns null when written, else why not.</summary>
    public string? SetOutputs(IReadOnlyList<(string Name, string Value)> outputs)
    {
        if (OutputPath is null)
        {
            return "GITHUB_OUTPUT is not set";
        }

        try
        {
            File.AppendAllText(OutputPath, string.Concat(outputs.Select(o => WorkflowCommands.Output(o.Name, o.Value))), new UTF8Encoding(false));
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            return $"could not write the step outputs to {OutputPath}: {e.Message}";
        }
    }

    /// <summary>
    /// <paramref name="markdown"/> cut to at most <paramref name="budget"/> UTF-8 bytes (on a line boundary), with a note
    /// saying it was cut; empty when not even the note fits.
    /// </summary>
    internal static string Fit(string markdown, long budget)
    {
        if (Encoding.UTF8.GetByteCount(markdown) <= budget)
        {
            return markdown;
        }

        const string Note = "\n\n_(cut: GitHub keeps at most 1 MiB of summary per step; the full log has the rest)_\n";
        var room = budget - Encoding.UTF8.GetByteCount(Note);
        if (room <= 0)
        {
            return "";
        }

        var kept = new StringBuilder();
        long used = 0;
        foreach (var line in markdown.Split('\n'))
        {
            var bytes = Encoding.UTF8.GetByteCount(line) + 1;
            if (used + bytes > room)
            {
                break;
            }

            kept.Append(line).Append('\n');
            used += bytes;
        }

        return kept.Append(Note).ToString();
    }

    private void Annotate(string kind, string title, string message, ref int count, int limit)
    {
        if (count >= limit)
        {
            _overflow.Add($"{kind}: {title}: {message}");
            return;
        }

        count++;
        Write(WorkflowCommands.Format(kind, message, [("title", title)]));
    }

    private void Write(string line)
    {
        _out.WriteLine(line);
        _out.Flush();
    }
}
