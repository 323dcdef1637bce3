using System.Text;

namespace Pipeline.GitHub;

/// <summary>
/// GitHub Actions workflow commands (<c>::name key=value,…::data</c>) and their escaping: in the data <c>%</c>, CR and LF
/// become <c>%25</c>, <c>%0D</c>, <c>%0A</c>; in property values also <c>:</c> and <c>,</c> become <c>%3A</c> and <c>%2C</c>.
/// </summary>
public static class WorkflowCommands
{
    /// <summary>Escapes a command's data (the part after the last <c>::</c>).</summary>
    public static string EscapeData(string value) =>
        value.Replace("%", "%25", StringComparison.Ordinal)
            .Replace("\r", "%0D", StringComparison.Ordinal)
            .Replace("\n", "%0A", StringComparison.Ordinal);

    /// <summary>Escapes a property value (<c>title=…</c>).</summary>
    public static string EscapeProperty(string value) =>
        EscapeData(value)
            .Replace(":", "%3A", StringComparison.Ordinal)
            .Replace(",", "%2C", StringComparison.Ordinal);

    /// <summary>Formats one command line: <c>::name key=value,…::data</c>.</summary>
    public static string Format(string name, string data, IReadOnlyList<(string Key, string Value)>? properties = null)
    {
        var line = new StringBuilder("::").Append(name);
        if (properties is { Count: > 0 })
        {
            line.Append(' ').AppendJoin(',', properties.Select(p => $"{p.Key}={EscapeProperty(p.Value)}"));
        }

        return line.Append("::").Append(EscapeData(data)).ToString();
    }

    /// <summary>
    /// A step output in <c>$GITHUB_OUTPUT</c>'s multiline-safe form: <c>name&lt;&lt;DELIMITER</c>, the value, the delimiter,
    /// each on its own line; the delimiter is random and never occurs in the value.
    /// </summary>
    public static string Output(string name, string value)
    {
        string delimiter;
        do
        {
            delimiter = $"ghadelimiter_{Guid.NewGuid():N}";
        }
        while (value.Contains(delimiter, StringComparison.Ordinal));

        return $"{name}<<{delimiter}\n{value}\n{delimiter}\n";
    }
}
