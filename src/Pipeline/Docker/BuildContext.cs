using System.Formats.Tar;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Docker;

/// <summary>
/// Writes a build context folder as a tar stream, leaving out what <c>.dockerignore</c> excludes (one pattern per
/// line, <c>#</c> comments, <c>*</c>, <c>?</c>, <c>**</c> and character classes, <c>!</c> exceptions, last match
/// wins, a pattern that matches a folder excludes what is inside it). The Dockerfile and <c>.dockerignore</c> are
/// always sent, as the docker CLI does.
/// </summary>
internal static class BuildContext
{
    public static async Task WriteAsync(string contextDirectory, string dockerfile, Stream output, CancellationToken ct)
    {
        var ignore = DockerIgnore.Load(Path.Combine(contextDirectory, ".dockerignore"));
        var alwaysSent = new HashSet<string>(StringComparer.Ordinal) { dockerfile.Replace('\\', '/').TrimStart('.', '/'), ".dockerignore" };
        await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await WriteFolderAsync(new DirectoryInfo(contextDirectory), "").ConfigureAwait(false);

        async Task WriteFolderAsync(DirectoryInfo folder, string prefix)
        {
            foreach (var entry in folder.EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var relative = prefix + entry.Name;
                var isFolder = entry is DirectoryInfo && entry.LinkTarget is null;
                var excluded = ignore.IsExcluded(relative) && !alwaysSent.Contains(relative);
                if (excluded && !(isFolder && ignore.HasExceptions))
                {
                    continue;
                }

                if (!excluded)
                {
                    await writer.WriteEntryAsync(entry.FullName, relative, ct).ConfigureAwait(false);
                }

                if (isFolder)
                {
                    await WriteFolderAsync((DirectoryInfo)entry, relative + "/").ConfigureAwait(false);
                }
            }
        }
    }
}

/// <summary>The patterns of a <c>.dockerignore</c> file.</summary>
internal sealed class DockerIgnore
{
    private readonly List<(Regex Pattern, bool Exception)> _rules;

    private DockerIgnore(List<(Regex, bool)> rules) => _rules = rules;

    /// <summary>True when some pattern starts with <c>!</c> (then excluded folders must still be walked).</summary>
    public bool HasExceptions => _rules.Any(r => r.Exception);

    public static DockerIgnore Load(string path) => Parse(File.Exists(path) ? File.ReadAllLines(path) : []);

    public static DockerIgnore Parse(IEnumerable<string> lines)
    {
        var rules = new List<(Regex, bool)>();
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var exception = line.StartsWith('!');
            var pattern = (exception ? line[1..] : line).Trim().Replace('\\', '/');
            while (pattern.StartsWith("./", StringComparison.Ordinal))
            {
                pattern = pattern[2..];
            }

            pattern = pattern.Trim('/');
            if (pattern.Length == 0 || pattern == ".")
            {
                continue;
            }

            rules.Add((new Regex(ToRegex(pattern), RegexOptions.CultureInvariant), exception));
        }

        return new DockerIgnore(rules);
    }

    /// <summary>True when the last pattern matching the path (or one of its parent folders) excludes it.</summary>
    public bool IsExcluded(string relativePath)
    {
        var candidates = new List<string>();
        var parts = relativePath.Split('/');
        for (var i = 1; i <= parts.Length; i++)
        {
            candidates.Add(string.Join('/', parts.Take(i)));
        }

        var excluded = false;
        foreach (var (pattern, exception) in _rules)
        {
            if (candidates.Any(c => pattern.IsMatch(c)))
            {
                excluded = !exception;
            }
        }

        return excluded;
    }

    private static string ToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    i++;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '/')
                    {
                        i++;
                        regex.Append("(.*/)?");
                    }
                    else
                    {
                        regex.Append(".*");
                    }

                    break;
                case '*':
                    regex.Append("[^/]*");
                    break;
                case '?':
                    regex.Append("[^/]");
                    break;
                case '[':
                    var end = pattern.IndexOf(']', i + 1);
                    if (end < 0)
                    {
                        regex.Append(@"\[");
                        break;
                    }

                    var set = pattern[(i + 1)..end];
                    regex.Append('[').Append(set.StartsWith('^') || set.StartsWith('!') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                    i = end;
                    break;
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        return regex.Append('$').ToString();
    }
}
