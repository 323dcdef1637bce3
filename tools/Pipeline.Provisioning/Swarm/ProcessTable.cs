using System.Globalization;

namespace Pipeline.Provisioning.Swarm;

/// <summary>What <c>/proc</c> says about processes and mounts on this machine.</summary>
internal static class ProcessTable
{
    /// <summary>A process's command line with its arguments joined by spaces, or empty when it is gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>The given processes and every process descended from them.</summary>
    public static IReadOnlySet<int> WithDescendants(IEnumerable<int> roots)
    {
        var parents = new Dictionary<int, int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
            }
        }

        var all = new HashSet<int>(roots);
        for (var grew = true; grew;)
        {
            grew = false;
            foreach (var (pid, parent) in parents)
            {
                if (all.Contains(parent) && all.Add(pid))
                {
                    grew = true;
                }
            }
        }

        return all;
    }

    /// <summary>Mount points under <paramref name="folder"/>, deepest first.</summary>
    public static IReadOnlyList<string> MountsUnder(string folder)
    {
        var prefix = folder.TrimEnd('/') + "/";
        try
        {
            return File.ReadAllLines("/proc/self/mountinfo")
                .Select(l => l.Split(' '))
                .Where(f => f.Length > 4)
                .Select(f => f[4].Replace("\\040", " ", StringComparison.Ordinal))
                .Where(m => m.StartsWith(prefix, StringComparison.Ordinal))
                .Distinct()
                .OrderByDescending(m => m.Length)
                .ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }
}
