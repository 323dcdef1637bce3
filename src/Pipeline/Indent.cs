namespace Pipeline;

/// <summary>Quotes output (a build's, a validator's, an engine's or registry's answer) in exception messages: each line on its own line, indented by four spaces.</summary>
internal static class Indent
{
    private const string Prefix = "    ";

    /// <summary>Each line indented, joined with <c>\n</c> (a trailing <c>\r</c> dropped).</summary>
    public static string Lines(IEnumerable<string> lines) => string.Join('\n', lines.Select(line => Prefix + line.TrimEnd('\r')));

    /// <summary>The lines of <paramref name="text"/> (trailing white space dropped), indented; <paramref name="whenBlank"/>, indented, when there are none.</summary>
    public static string Text(string? text, string whenBlank = "(no output)") =>
        string.IsNullOrWhiteSpace(text) ? Prefix + whenBlank : Lines(text.TrimEnd().Split('\n'));
}
