namespace Pipeline.Registry;

/// <summary>
/// How a service registry client retries transient failures (an etcd leader change or an unavailable member, a 5xx
/// from Consul, a refused, reset or timed-out connection): with exponential backoff, for at most
/// <see cref="MaxElapsed"/> from the first attempt; then the last failure is reported. Other failures (a refusal, a
/// missing lease, bad credentials, a rejected certificate) are reported at once.
/// </summary>
public sealed record RegistryRetry
{
    /// <summary>
    /// The default policy: retries for up to 5 s, waiting 100 ms, 200 ms, 400 ms … at most 2 s between attempts; long
    /// enough for an etcd leader election (about a second with etcd's defaults), short enough that a registry that is
    /// really gone fails a stage well before a deploy lock's lease (10 s by default) runs out.
    /// </summary>
    public static RegistryRetry Default { get; } = new();

    /// <summary>One attempt only (each endpoint once).</summary>
    public static RegistryRetry None { get; } = new() { MaxElapsed = TimeSpan.Zero };

    /// <summary>How long after the first attempt a new attempt may still start.</summary>
    /// <value>The default value is 5 seconds.</value>
    public TimeSpan MaxElapsed { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait before the first retry; each later wait doubles, up to <see cref="MaxDelay"/>.</summary>
    /// <value>The default value is 100 milliseconds.</value>
    public TimeSpan FirstDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between two attempts.</summary>
    /// <value>The default value is 2 seconds.</value>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The wait before retry number <paramref name="retry"/> (1 for the first retry), or null when no retry may
    /// start any more because <paramref name="elapsed"/> plus the wait would pass <see cref="MaxElapsed"/>.
    /// The wait is spread by up to a fifth either way so that clients failing together do not retry together.
    /// </summary>
    public TimeSpan? DelayBefore(int retry, TimeSpan elapsed)
    {
        if (retry < 1 || FirstDelay < TimeSpan.Zero || MaxDelay < FirstDelay)
        {
            throw new ArgumentOutOfRangeException(nameof(retry), "A retry is numbered from 1; FirstDelay must be at least zero and at most MaxDelay.");
        }

        var doubled = FirstDelay.Ticks * Math.Pow(2, Math.Min(retry - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(doubled, MaxDelay.Ticks) * (80 + Random.Shared.Next(41)) / 100);
        return elapsed + delay <= MaxElapsed ? delay : null;
    }
}
