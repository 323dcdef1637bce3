using System.Globalization;
using System.Text;

namespace Pipeline.Testing.Support;

/// <summary>One series of a scrape: the metric's name, its labels and its value.</summary>
public sealed record ScrapedSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// Reads Prometheus' text exposition format (what a proxy's <c>/metrics</c> answers) the way the tests need it: every
/// sample line as name, labels and value; comments and blank lines skipped; a line it cannot read is an error naming it.
/// </summary>
public static class PrometheusText
{
    /// <summary>The samples of <paramref name="text"/>, in order.</summary>
    public static IReadOnlyList<ScrapedSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<ScrapedSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseLine(line));
        }

        return samples;
    }

    /// <summary>The sum of the samples of <paramref name="name"/> whose labels all match <paramref name="where"/>.</summary>
    public static double Sum(IEnumerable<ScrapedSample> samples, string name, Func<IReadOnlyDictionary<string, string>, bool> where) =>
        samples.Where(s => s.Name == name && where(s.Labels)).Sum(s => s.Value);

    private static ScrapedSample ParseLine(string line)
    {
        var position = 0;
        while (position < line.Length && line[position] is not ('{' or ' '))
        {
            position++;
        }

        var name = line[..position];
        if (name.Length == 0)
        {
            throw new FormatException($"no metric name in '{line}'");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (position < line.Length && line[position] == '{')
        {
            position++;
            while (position < line.Length && line[position] != '}')
            {
                var equals = line.IndexOf('=', position);
                if (equals < 0 || equals + 1 >= line.Length || line[equals + 1] != '"')
                {
                    throw new FormatException($"a label without '=\"' in '{line}'");
                }

                var label = line[position..equals];
                var value = new StringBuilder();
                position = equals + 2;
                while (true)
                {
                    if (position >= line.Length)
                    {
                        throw new FormatException($"an unterminated label value in '{line}'");
                    }

                    var c = line[position++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\' && position < line.Length)
                    {
                        var escaped = line[position++];
                        value.Append(escaped == 'n' ? '\n' : escaped);
                        continue;
                    }

                    value.Append(c);
                }

                labels[label] = value.ToString();
                if (position < line.Length && line[position] == ',')
                {
                    position++;
                }
            }

            if (position >= line.Length)
            {
                throw new FormatException($"labels without '}}' in '{line}'");
            }

            position++;
        }

        var fields = line[position..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length is 0 or > 2 || !double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            throw new FormatException($"no value (or more than a value and a timestamp) in '{line}'");
        }

        return new ScrapedSample(name, labels, number);
    }
}
