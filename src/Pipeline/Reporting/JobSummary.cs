using System.Globalization;
using System.Text;

namespace Pipeline.Reporting;

/// <summary>What a run's job summary says.</summary>
/// <param name="Target">The target (Deploy, Rollback).</param>
/// <param name="Service">The service.</param>
/// <param name="Version">The version deployed (or attempted).</param>
/// <param name="Outcome">One of <see cref="RunOutcomes"/>.</param>
/// <param name="PreviousColor">The colour live before.</param>
/// <param name="NewColor">The colour deployed (null: none was chosen).</param>
/// <param name="LiveColor">The colour live now.</param>
/// <param name="DeployId">The run's deploy id.</param>
/// <param name="Url">Where the service answers through the proxy.</param>
/// <param name="Duration">How long the run took.</param>
/// <param name="Stages">Each stage's time, in order.</param>
/// <param name="Failure">How it failed, or null.</param>
/// <param name="RetryCommand">The command to run it again.</param>
/// <param name="MoreAnnotations">Annotations beyond GitHub's per-step limits.</param>
public sealed record JobSummaryFacts(
    string Target,
    string Service,
    string? Version,
    string Outcome,
    string? PreviousColor,
    string? NewColor,
    string? LiveColor,
    string DeployId,
    string? Url,
    TimeSpan Duration,
    IReadOnlyList<(string Stage, TimeSpan Duration)> Stages,
    RunFailure? Failure,
    string RetryCommand,
    IReadOnlyList<string> MoreAnnotations);

/// <summary>Renders a run's job summary as GitHub-flavoured Markdown.</summary>
public static class JobSummary
{
    /// <summary>The Markdown: a heading with the outcome, a table of facts, the stage times, the rollback, extra annotations.</summary>
    public static string Render(JobSummaryFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var md = new StringBuilder();
        var icon = facts.Outcome == RunOutcomes.Succeeded ? "✅" : facts.Outcome == RunOutcomes.RolledBack ? "↩️" : "❌";
        md.Append(CultureInfo.InvariantCulture, $"## {icon} {facts.Target} {Cell(facts.Service)} {Cell(facts.Version ?? "")}: {facts.Outcome}\n\n");
        md.Append("| | |\n|---|---|\n");
        Row("service", facts.Service);
        Row("version", facts.Version ?? "-");
        Row("colour", $"{facts.PreviousColor ?? "none"} → {(facts.Failure is null ? facts.NewColor ?? "-" : facts.LiveColor ?? "none")}"
            + (facts.Failure is not null && facts.NewColor is not null ? $" ({facts.NewColor} was rolled back)" : ""));
        Row("outcome", facts.Outcome);
        Row("proxy", facts.Url ?? "-");
        Row("deploy id", facts.DeployId);
        Row("duration", $"{facts.Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");

        if (facts.Stages.Count > 0)
        {
            md.Append("\n### Stages\n\n| stage | seconds |\n|---|---:|\n");
            foreach (var (stage, duration) in facts.Stages)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {Cell(stage)} | {duration.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} |\n");
            }

            if (facts.Failure is { } failed)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {Cell(failed.Stage)} | failed |\n");
            }
        }

        if (facts.Failure is { } failure)
        {
            md.Append(CultureInfo.InvariantCulture, $"\n### Failure in {Cell(failure.Stage)}\n\n");
            md.Append(Fenced(failure.Cause));
            md.Append(CultureInfo.InvariantCulture, $"\n**Rollback:** {Cell(failure.Rollback)}\n\n");
            md.Append("**Retry:**\n\n").Append(Fenced(facts.RetryCommand));
        }

        if (facts.MoreAnnotations.Count > 0)
        {
            md.Append("\n### More annotations\n\n");
            foreach (var line in facts.MoreAnnotations)
            {
                md.Append("- ").Append(Cell(line)).Append('\n');
            }
        }

        return md.Append('\n').ToString();

        void Row(string name, string value) => md.Append(CultureInfo.InvariantCulture, $"| {name} | {Cell(value)} |\n");
    }

    /// <summary>A value inside a table cell or a line: pipes escaped, line breaks as &lt;br&gt;.</summary>
    private static string Cell(string value) =>
        value.Replace("|", "\\|", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "<br>", StringComparison.Ordinal);

    /// <summary>Text in a fence longer than any run of backticks inside it.</summary>
    private static string Fenced(string text)
    {
        var longest = 0;
        var run = 0;
        foreach (var c in text)
        {
            run = c == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }

        var fence = new string('`', Math.Max(3, longest + 1));
        return $"{fence}\n{text.TrimEnd()}\n{fence}\n";
    }
}
