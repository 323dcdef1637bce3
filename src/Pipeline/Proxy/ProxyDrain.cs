namespace Pipeline.Proxy;

/// <summary>How a drain ended: no request in flight any more, or the timeout passed with some still in flight.</summary>
/// <param name="Drained">True when the proxy reported no request in flight to the colour.</param>
/// <param name="InFlight">Requests in flight at the last look (0 when drained).</param>
/// <param name="Waited">How long it took.</param>
public sealed record DrainResult(bool Drained, int InFlight, TimeSpan Waited);

/// <summary>Waits until a proxy has no request in flight to one colour of a service, or a timeout passes.</summary>
public static class ProxyDrain
{
    /// <summary>How often the proxy is asked (one question over its kept session).</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Asks <paramref name="proxy"/> how many requests are in flight to <paramref name="color"/> of <paramref name="service"/>
    /// until none are or <paramref name="timeout"/> has passed, whichever is first (the result says which).
    /// </summary>
    public static async Task<DrainResult> WaitAsync(
        IProxy proxy,
        string service,
        string color,
        TimeSpan timeout,
        TimeProvider? time = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        time ??= TimeProvider.System;
        var started = time.GetTimestamp();
        while (true)
        {
            var inFlight = await proxy.InFlightAsync(service, color, ct).ConfigureAwait(false);
            var waited = time.GetElapsedTime(started);
            if (inFlight == 0)
            {
                return new DrainResult(true, 0, waited);
            }

            if (waited >= timeout)
            {
                return new DrainResult(false, inFlight, waited);
            }

            var pause = timeout - waited < PollInterval ? timeout - waited : PollInterval;
            await Task.Delay(pause, time, ct).ConfigureAwait(false);
        }
    }
}
