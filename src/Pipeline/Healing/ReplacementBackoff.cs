namespace Pipeline.Healing;

/// <summary>What Heal may do about a release whose instances need replacing.</summary>
public enum BackoffVerdict
{
    /// <summary>Replace now.</summary>
    Replace,

    /// <summary>Wait: the last replacement was too recent (<see cref="BackoffDecision.WaitUntil"/>).</summary>
    Wait,

    /// <summary>Stop: the window's replacements are used up, so the release itself is taken to be broken.</summary>
    Broken,
}

/// <summary>The verdict, when the next replacement may happen, and the replacements in the window that led to it.</summary>
/// <param name="Verdict">Replace, wait or stop.</param>
/// <param name="WaitUntil">The earliest time of the next replacement (for <see cref="BackoffVerdict.Wait"/>).</param>
/// <param name="Recent">The replacements of the release in the window, oldest first.</param>
public sealed record BackoffDecision(BackoffVerdict Verdict, DateTimeOffset? WaitUntil, IReadOnlyList<DateTimeOffset> Recent);

/// <summary>
/// The replacements Heal made for one release (kept under <c>{prefix}/health/{service}/replacements</c>): when each was
/// attempted, and when the next may be. A record of another release (a deploy since) counts for nothing.
/// </summary>
/// <param name="Release">The release's name (<c>{service}-{color}-{deployid6}</c>).</param>
/// <param name="DeployId">The deploy that created the release.</param>
/// <param name="Attempts">When each replacement was attempted (successful or not), oldest first.</param>
/// <param name="NextAttemptAt">The earliest time of the next replacement.</param>
public sealed record ReplacementHistory(string Release, string DeployId, IReadOnlyList<DateTimeOffset> Attempts, DateTimeOffset NextAttemptAt);

/// <summary>
/// No restart storm: after each replacement of a release the next waits <c>backoff × 2^(n-1)</c> (n = replacements in the
/// window), capped at the maximum; once the window holds the maximum number of replacements, the release is broken and
/// nothing more is replaced until the window moves on or a deploy replaces the release.
/// </summary>
public static class ReplacementBackoff
{
    /// <summary>What may be done now about <paramref name="deployId"/>'s release, given its <paramref name="history"/>.</summary>
    public static BackoffDecision Decide(ReplacementHistory? history, string deployId, DateTimeOffset now, HealingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var recent = Recent(history, deployId, now, options);
        if (recent.Count >= options.MaxReplacements)
        {
            return new BackoffDecision(BackoffVerdict.Broken, null, recent);
        }

        return history is not null && history.DeployId == deployId && history.NextAttemptAt > now
            ? new BackoffDecision(BackoffVerdict.Wait, history.NextAttemptAt, recent)
            : new BackoffDecision(BackoffVerdict.Replace, null, recent);
    }

    /// <summary>The history after a replacement attempted at <paramref name="now"/>.</summary>
    public static ReplacementHistory After(ReplacementHistory? history, string release, string deployId, DateTimeOffset now, HealingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var attempts = Recent(history, deployId, now, options).Append(now).ToList();
        return new ReplacementHistory(release, deployId, attempts, now + Delay(attempts.Count, options));
    }

    /// <summary>The wait after the <paramref name="replacements"/>-th replacement in the window: <c>backoff × 2^(n-1)</c>, at most the maximum.</summary>
    public static TimeSpan Delay(int replacements, HealingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var factor = Math.Pow(2, Math.Clamp(replacements - 1, 0, 30));
        var delay = options.Backoff.TotalSeconds * factor;
        return delay >= options.BackoffMax.TotalSeconds ? options.BackoffMax : TimeSpan.FromSeconds(delay);
    }

    private static List<DateTimeOffset> Recent(ReplacementHistory? history, string deployId, DateTimeOffset now, HealingOptions options) =>
        history is null || history.DeployId != deployId
            ? []
            : history.Attempts.Where(a => a > now - options.Window && a <= now).Order().ToList();
}
