namespace Pipeline;

/// <summary>Quotes output (a build's, a validator's, an engine's or registry's answer) in exception messages: each line on its own line, indented by four spaces.</summary>
internal static class Indent
{
    private const string Prefix = "    ";

    /// <summary>Each line indented, joined with <c>\n</c> (a trailing <c>\r</c> dropped).</summary>
    public static string Lines(IEnumerable<string> lines) => string.Join('\n', lines.Select(line => Prefix + line.TrimEnd('\r')));

    /// <summary>
    /// The lines of <paramref name="text"/> (trailing white space dropped), indented; <paramref name="whenBlank"/>, indented,
    /// when there are none. With <paramref name="lastLines"/>, only that many of the last lines, after a line saying how many earlier ones were left out.
    /// </summary>
    public static string Text(string? text, string whenBlank = "(no output)", int? lastLines = null)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Prefix + whenBlank;
        }

        var lines = text.TrimEnd().Split('\n');
        return lastLines is { } last && lines.Length > last
            ? Lines([$"… ({lines.Length - last} earlier lines)", .. lines[^last..]])
            : Lines(lines);
    }
}
