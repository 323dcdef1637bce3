using System.Diagnostics;

namespace Pipeline.IntegrationTests.Swarm;

/// <summary>
/// Steady load through a proxy: a few clients, each sending GET with <c>Connection: close</c> (a new connection per
/// request), one after the other with a short pause, never retrying. A request that gets no 2xx within the timeout
/// counts as failed, with when and why.
/// </summary>
internal sealed class ProxyLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _clients = [];
    private readonly List<string> _failures = [];
    private readonly Dictionary<string, long> _colors = [];
    private long _sent;

    private ProxyLoad(Uri url, int clients, TimeSpan interval)
    {
        for (var i = 0; i < clients; i++)
        {
            _clients.Add(Task.Run(() => ClientAsync(url, interval)));
        }
    }

    /// <summary>Seconds since the load started (failure times are on this clock).</summary>
    public double Seconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Requests sent so far.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    public static ProxyLoad Start(Uri url, int clients = 4, int intervalMs = 20) => new(url, clients, TimeSpan.FromMilliseconds(intervalMs));

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

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private async Task ClientAsync(Uri url, TimeSpan interval)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
        while (!_stop.IsCancellationRequested)
        {
            var at = Seconds;
            Interlocked.Increment(ref _sent);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.ConnectionClose = true;
                using var response = await http.SendAsync(request, CancellationToken.None);
                var color = response.Headers.TryGetValues("X-Pipeline-Color", out var values) ? values.First() : "(none)";
                lock (_failures)
                {
                    if (response.IsSuccessStatusCode)
                    {
                        _colors[color] = _colors.GetValueOrDefault(color) + 1;
                    }
                    else
                    {
                        _failures.Add($"at {at:0.0} s: HTTP {(int)response.StatusCode} from {color}");
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                lock (_failures)
                {
                    _failures.Add($"at {at:0.0} s: {e.GetType().Name}: {e.Message}");
                }
            }

            try
            {
                await Task.Delay(interval, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
