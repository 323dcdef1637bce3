using System.Globalization;

namespace Pipeline.Healing;

/// <summary>
/// How <c>--target=Heal</c> decides that an instance must be replaced and how often it may try. Part of the deployment
/// options (<c>--watch</c>, <c>--heal-interval</c>, <c>--heal-failures</c>, <c>--heal-backoff</c>,
/// <c>--heal-backoff-max</c>, <c>--heal-max-replacements</c>, <c>--heal-window</c>, and on a swarm <c>--heal-node-failures</c>,
/// <c>--heal-node-window</c>, <c>--heal-node-undrain-after</c>); <see cref="Problems"/> checks them.
/// </summary>
public sealed record HealingOptions
{
    /// <summary>When true, Heal keeps making passes every <see cref="Interval"/> until stopped (Ctrl-C, SIGTERM).</summary>
    /// <value>The default value is <see langword="false"/>: one pass.</value>
    public bool Watch { get; init; }

    /// <summary>The pause between two passes with <see cref="Watch"/>.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How many consecutive failed health checks (one per pass) make a running instance one to replace.</summary>
    /// <value>The default value is 3.</value>
    public int FailureThreshold { get; init; } = 3;

    /// <summary>The wait after the first replacement of a release before the next one; it doubles with each replacement in <see cref="Window"/>.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest wait between two replacements.</summary>
    /// <value>The default value is 5 minutes.</value>
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How many replacements of one release <see cref="Window"/> may hold: when they are used up the release itself is taken
    /// to be broken, and Heal stops replacing its instances (it says so each pass) until a deploy or the window moves on.
    /// </summary>
    /// <value>The default value is 3.</value>
    public int MaxReplacements { get; init; } = 3;

    /// <summary>The window <see cref="MaxReplacements"/> counts in.</summary>
    /// <value>The default value is 10 minutes.</value>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// On a swarm: how many failures of the service's tasks on one node (failed health checks, tasks Swarm saw fail) within
    /// <see cref="NodeWindow"/> make Heal drain that node; 0 never drains.
    /// </summary>
    /// <value>The default value is 5.</value>
    public int NodeFailures { get; init; } = 5;

    /// <summary>The window <see cref="NodeFailures"/> counts in.</summary>
    /// <value>The default value is 10 minutes.</value>
    public TimeSpan NodeWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a node Heal drained must be ready with no failure before Heal sets it active again.</summary>
    /// <value>The default value is 10 minutes.</value>
    public TimeSpan NodeUndrainAfter { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Every problem with these options, each naming the option, its value and the fix; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                problems.Add(problem);
            }
        }

        Check(Interval >= TimeSpan.FromSeconds(1) && Interval <= TimeSpan.FromHours(1),
            $"--heal-interval={Seconds(Interval)}: must be 1 to 3600 seconds between passes; e.g. --heal-interval=10");
        Check(FailureThreshold is >= 1 and <= 100,
            $"--heal-failures={FailureThreshold}: must be 1 to 100 consecutive failed health checks before an instance is replaced; e.g. --heal-failures=3");
        Check(Backoff >= TimeSpan.Zero && Backoff <= TimeSpan.FromHours(1),
            $"--heal-backoff={Seconds(Backoff)}: must be 0 to 3600 seconds; e.g. --heal-backoff=10");
        Check(BackoffMax >= Backoff && BackoffMax <= TimeSpan.FromDays(1),
            $"--heal-backoff-max={Seconds(BackoffMax)}: must be at least --heal-backoff ({Seconds(Backoff)}) and at most a day; e.g. --heal-backoff-max=300");
        Check(MaxReplacements is >= 1 and <= 1000,
            $"--heal-max-replacements={MaxReplacements}: must be 1 to 1000 replacements per window; e.g. --heal-max-replacements=3");
        Check(Window >= TimeSpan.FromSeconds(1) && Window <= TimeSpan.FromDays(7),
            $"--heal-window={Seconds(Window)}: must be 1 second to 7 days; e.g. --heal-window=600");
        Check(NodeFailures is >= 0 and <= 1000,
            $"--heal-node-failures={NodeFailures}: must be 0 (never drain a node) to 1000 failures of the service's tasks on one node; e.g. --heal-node-failures=5");
        Check(NodeWindow >= TimeSpan.FromSeconds(1) && NodeWindow <= TimeSpan.FromDays(7),
            $"--heal-node-window={Seconds(NodeWindow)}: must be 1 second to 7 days; e.g. --heal-node-window=600");
        Check(NodeUndrainAfter >= TimeSpan.FromSeconds(1) && NodeUndrainAfter <= TimeSpan.FromDays(7),
            $"--heal-node-undrain-after={Seconds(NodeUndrainAfter)}: must be 1 second to 7 days of a drained node being ready with no failure; e.g. --heal-node-undrain-after=600");
        return problems;
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(CultureInfo.InvariantCulture);
}
