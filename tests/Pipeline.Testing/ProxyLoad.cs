using System.Diagnostics;

namespace Pipeline.Testing.Support;

/// <summary>
/// Steady requests through a proxy in the background: what users of a service see while it is healed, scaled or loses
/// a node. A few clients, each sending GET with <c>Connection: close</c> (a new connection per request), one after the
/// other with a short pause, never retrying. A request that gets no 2xx within the timeout counts as failed, with when
/// (on <see cref="Seconds"/>' clock) and why.
/// </summary>
public sealed class ProxyLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _clients = [];
    private readonly List<string> _failures = [];
    private readonly Dictionary<string, long> _colors = [];
    private long _sent;
    private int _answered;
    private long _longestTicks;

    private ProxyLoad(Uri url, int clients, TimeSpan pause)
    {
        for (var i = 0; i < clients; i++)
        {
            _clients.Add(Task.Run(() => ClientAsync(url, pause)));
        }
    }

    /// <summary>Seconds since the load started (failure times are on this clock).</summary>
    public double Seconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Requests sent so far (the ones in flight included).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Requests answered with 2xx.</summary>
    public int Answered => Volatile.Read(ref _answered);

    /// <summary>Requests that failed (no answer, or not 2xx): when and what each got.</summary>
    public IReadOnlyList<string> Failures
    {
        get
        {
            lock (_failures)
            {
                return [.. _failures];
            }
        }
    }

    /// <summary>The longest a request took (answered or failed) since the last call, and starts measuring again.</summary>
    public TimeSpan TakeLongest() => TimeSpan.FromTicks(Interlocked.Exchange(ref _longestTicks, 0));

    /// <summary>Starts <paramref name="clients"/> clients requesting <paramref name="url"/>, pausing <paramref name="pause"/> (20 ms) between requests.</summary>
    public static ProxyLoad Start(Uri url, int clients = 1, TimeSpan? pause = null) =>
        new(url, clients, pause ?? TimeSpan.FromMilliseconds(20));

    /// <summary>Stops the clients (each finishes its request in flight): requests sent, the failures ("at 12.3 s: why"), and answers per colour.</summary>
    public async Task<(long Sent, IReadOnlyList<string> Failures, IReadOnlyDictionary<string, long> Colors)> StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
        lock (_failures)
        {
            return (_sent, [.. _failures], new Dictionary<string, long>(_colors));
        }
    }

    /// <summary>Stops the clients and waits for the requests in flight.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private async Task ClientAsync(Uri url, TimeSpan pause)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
        while (!_stop.IsCancellationRequested)
        {
            var at = Seconds;
            var started = Stopwatch.GetTimestamp();
            Interlocked.Increment(ref _sent);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.ConnectionClose = true;
                using var response = await http.SendAsync(request, CancellationToken.None);
                var color = response.Headers.TryGetValues("X-Pipeline-Color", out var values) ? values.First() : "(none)";
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _answered);
                    lock (_failures)
                    {
                        _colors[color] = _colors.GetValueOrDefault(color) + 1;
                    }
                }
                else
                {
                    Fail($"at {at:0.0} s: HTTP {(int)response.StatusCode} from {color}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Fail($"at {at:0.0} s: {e.GetType().Name}: {e.Message}");
            }

            KeepLongest(Stopwatch.GetElapsedTime(started).Ticks);
            try
            {
                await Task.Delay(pause, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private void KeepLongest(long ticks)
    {
        long seen;
        while (ticks > (seen = Interlocked.Read(ref _longestTicks)) && Interlocked.CompareExchange(ref _longestTicks, ticks, seen) != seen)
        {
        }
    }

    private void Fail(string what)
    {
        lock (_failures)
        {
            _failures.Add(what);
        }
    }
}
