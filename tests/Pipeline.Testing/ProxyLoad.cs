
namespace Pipeline.Testing.Support;

/// <summary>
/// Steady requests through a proxy in the background (one at a time, each on a fresh connection, a short pause between),
/// counting the answered and the failed ones: what users of a service see while it is healed or scaled.
/// </summary>
public sealed class ProxyLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly List<string> _failures = [];
    private int _answered;
    private long _longestTicks;

    private ProxyLoad(Uri url, TimeSpan pause)
    {
        _loop = Task.Run(() => LoopAsync(url, pause, _stop.Token));
    }

    /// <summary>Requests answered with 2xx.</summary>
    public int Answered => Volatile.Read(ref _answered);

    /// <summary>Requests that failed (no answer, or not 2xx): what each got.</summary>
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

    /// <summary>Starts requesting <paramref name="url"/>.</summary>
    public static ProxyLoad Start(Uri url, TimeSpan? pause = null) => new(url, pause ?? TimeSpan.FromMilliseconds(20));

    /// <summary>Stops the requests and waits for the one in flight.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task LoopAsync(Uri url, TimeSpan pause, CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
        while (!ct.IsCancellationRequested)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.ConnectionClose = true;
                using var response = await http.SendAsync(request, ct);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _answered);
                }
                else
                {
                    Fail($"HTTP {(int)response.StatusCode}");
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Fail(e.Message);
            }
            finally
            {
                var took = System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks;
                long seen;
                while (took > (seen = Interlocked.Read(ref _longestTicks)) && Interlocked.CompareExchange(ref _longestTicks, took, seen) != seen)
                {
                }
            }

            await Task.Delay(pause, ct);
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
