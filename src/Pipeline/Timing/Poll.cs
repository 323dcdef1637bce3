namespace Pipeline.Timing;

/// <summary>
/// The one poll-until-deadline loop: calls an attempt, then waits an interval, until the attempt reports success, the
/// deadline passes, or the caller cancels. The attempt gets a token that is cancelled at the deadline, so a slow call
/// cannot outlast it. Time (deadline and interval) comes from the <see cref="TimeProvider"/> given.
/// </summary>
internal static class Poll
{
    /// <summary>Polls until <paramref name="attempt"/> returns true or <paramref name="timeout"/> passes.</summary>
    /// <param name="attempt">One try: true when done. An exception it throws ends the wait (a "not yet" must be caught inside it).</param>
    /// <param name="timeout">How long to keep trying, from now.</param>
    /// <param name="interval">The pause after each try that did not succeed.</param>
    /// <param name="time">The clock.</param>
    /// <param name="ct">Cancels the wait (then <see cref="OperationCanceledException"/> is thrown).</param>
    /// <returns>True when an attempt succeeded; false when the deadline passed first (the caller says what it waited for and what it saw last).</returns>
    public static async Task<bool> UntilAsync(
        Func<CancellationToken, Task<bool>> attempt,
        TimeSpan timeout,
        TimeSpan interval,
        TimeProvider time,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(time);
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        try
        {
            while (true)
            {
                if (await attempt(linked.Token).ConfigureAwait(false))
                {
                    return true;
                }

                await Task.Delay(interval, time, linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return false;
        }
    }
}
