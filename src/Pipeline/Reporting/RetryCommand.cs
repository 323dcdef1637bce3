using System.Text;
using System.Text.RegularExpressions;
using Pipeline.Notifications;

namespace Pipeline.Reporting;

/// <summary>
/// The command that runs a target again as this run was started: the launcher (<c>$PIPELINE_LAUNCHER</c>, e.g.
/// <c>./build.sh</c>; else <c>dotnet path/to/Build.dll</c> or the program's path), then <c>--target=…</c>, the version
/// pinned with <c>--release-version</c>, and every other option given on the command line. Notification URLs are shown
/// without their credentials; secrets never come from the command line.
/// </summary>
public static partial class RetryCommand
{
    /// <summary>The environment variable that names how the build program is started (this repo's build.sh sets it).</summary>
    public const string LauncherVariable = "PIPELINE_LAUNCHER";

    /// <summary>Formats the command.</summary>
    /// <param name="launcher">How the program is started.</param>
    /// <param name="target">The target to run.</param>
    /// <param name="version">The version to pin, or null to leave it out.</param>
    /// <param name="arguments">The options given to this run (name → values); <c>target</c> and <c>release-version</c> are replaced.</param>
    public static string Format(string launcher, string target, string? version, IEnumerable<KeyValuePair<string, ICollection<string>>> arguments)
    {
        var command = new StringBuilder(launcher).Append(" --target=").Append(Quote(target));
        if (version is not null)
        {
            command.Append(" --release-version=").Append(Quote(version));
        }

        foreach (var (name, values) in arguments.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            if (name is "target" or "release-version" or "dryrun" || !OptionName().IsMatch(name))
            {
                continue;
            }

            foreach (var value in values.DefaultIfEmpty(""))
            {
                var shown = name == "notify" ? string.Join(',', value.Split(',').Select(WebhookTarget.Redact)) : value;
                command.Append(" --").Append(name);
                if (!string.IsNullOrEmpty(shown))
                {
                    command.Append('=').Append(Quote(shown));
                }
            }
        }

        return command.ToString();
    }

    /// <summary>How this process was started: <c>$PIPELINE_LAUNCHER</c>, else <c>dotnet {dll}</c> or the program's path.</summary>
    public static string Launcher(Func<string, string?> environment)
    {
        if (environment(LauncherVariable) is { Length: > 0 } launcher)
        {
            return launcher;
        }

        var args = Environment.GetCommandLineArgs();
        var program = args.Length > 0 ? args[0] : "";
        var relative = program.Length > 0 ? Path.GetRelativePath(Environment.CurrentDirectory, program) : program;
        return program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? $"dotnet {Quote(relative)}" : Quote(relative.Length > 0 ? relative : "./build.sh");
    }

    /// <summary>Quotes a word for a POSIX shell when it needs it.</summary>
    public static string Quote(string word) =>
        word.Length > 0 && Plain().IsMatch(word) ? word : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [GeneratedRegex(@"^[A-Za-z0-9_./:=@%+,-]+\z")]
    private static partial Regex Plain();

    [GeneratedRegex(@"^[a-z][a-z0-9-]*\z")]
    private static partial Regex OptionName();
}
