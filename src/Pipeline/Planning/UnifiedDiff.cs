using System.Globalization;
using System.Text;

namespace Pipeline.Planning;

/// <summary>
/// A line diff in unified format (<c>--- a</c>, <c>+++ b</c>, <c>@@ -l,s +l,s @@</c> hunks with 3 lines of context), from
/// Myers' O(ND) shortest edit script. Texts that differ in more than <see cref="MaxEdits"/> lines are shown as one hunk
/// that replaces everything.
/// </summary>
public static class UnifiedDiff
{
    /// <summary>The most edits searched for before the diff falls back to replacing the whole text.</summary>
    public const int MaxEdits = 4000;

    /// <summary>Lines of unchanged context around each change.</summary>
    public const int Context = 3;

    /// <summary>The unified diff from <paramref name="before"/> to <paramref name="after"/>; empty when they are equal.</summary>
    public static string Create(string before, string after, string beforeName, string afterName)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var a = Lines(before);
        var b = Lines(after);
        var script = Edits(a, b);
        if (script.All(e => e.Op == ' '))
        {
            return "";
        }

        var diff = new StringBuilder().Append("--- ").Append(beforeName).Append('\n').Append("+++ ").Append(afterName).Append('\n');
        var changes = script.Select((e, i) => (e, i)).Where(x => x.e.Op != ' ').Select(x => x.i).ToList();
        var start = 0;
        while (start < changes.Count)
        {
            // A hunk: changes closer than 2 × context lines apart share one.
            var end = start;
            while (end + 1 < changes.Count && changes[end + 1] - changes[end] <= 2 * Context)
            {
                end++;
            }

            var from = Math.Max(0, changes[start] - Context);
            var to = Math.Min(script.Count - 1, changes[end] + Context);
            var aStart = script.Take(from).Count(e => e.Op != '+');
            var bStart = script.Take(from).Count(e => e.Op != '-');
            var hunk = script.Skip(from).Take(to - from + 1).ToList();
            var aCount = hunk.Count(e => e.Op != '+');
            var bCount = hunk.Count(e => e.Op != '-');
            diff.Append(CultureInfo.InvariantCulture, $"@@ -{Range(aStart, aCount)} +{Range(bStart, bCount)} @@\n");
            foreach (var (op, line) in hunk)
            {
                diff.Append(op).Append(line).Append('\n');
            }

            start = end + 1;
        }

        return diff.ToString();
    }

    /// <summary><c>l,s</c> of a hunk side; an empty side names the line before it.</summary>
    private static string Range(int start, int count) =>
        count == 1 ? (start + 1).ToString(CultureInfo.InvariantCulture)
        : count == 0 ? $"{start.ToString(CultureInfo.InvariantCulture)},0"
        : $"{(start + 1).ToString(CultureInfo.InvariantCulture)},{count.ToString(CultureInfo.InvariantCulture)}";

    private static string[] Lines(string text)
    {
        if (text.Length == 0)
        {
            return [];
        }

        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }

    /// <summary>The shortest edit script: ' ' keep, '-' delete from a, '+' insert from b, in order.</summary>
    internal static List<(char Op, string Line)> Edits(string[] a, string[] b)
    {
        int n = a.Length, m = b.Length, max = n + m, offset = max + 1;
        var v = new int[2 * max + 3];
        var trace = new List<int[]>();
        for (var d = 0; d <= max; d++)
        {
            if (d > MaxEdits)
            {
                return [.. a.Select(l => ('-', l)), .. b.Select(l => ('+', l))];
            }

            trace.Add((int[])v.Clone());
            for (var k = -d; k <= d; k += 2)
            {
                var x = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
                var y = x - k;
                while (x < n && y < m && a[x] == b[y])
                {
                    x++;
                    y++;
                }

                v[offset + k] = x;
                if (x >= n && y >= m)
                {
                    return Backtrack(a, b, trace, offset, d);
                }
            }
        }

        return [];
    }

    private static List<(char, string)> Backtrack(string[] a, string[] b, List<int[]> trace, int offset, int depth)
    {
        var edits = new List<(char, string)>();
        int x = a.Length, y = b.Length;
        for (var d = depth; d > 0; d--)
        {
            var v = trace[d];
            var k = x - y;
            var previousK = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) ? k + 1 : k - 1;
            var previousX = v[offset + previousK];
            var previousY = previousX - previousK;
            while (x > previousX && y > previousY)
            {
                edits.Add((' ', a[--x]));
                y--;
            }

            if (x == previousX)
            {
                edits.Add(('+', b[--y]));
            }
            else
            {
                edits.Add(('-', a[--x]));
            }
        }

        while (x > 0 && y > 0)
        {
            edits.Add((' ', a[--x]));
            y--;
        }

        edits.Reverse();
        return edits;
    }
}
