using System.Diagnostics;

namespace Pipeline.Bench;

/// <summary>One step's requests: started in the step, answered 2xx or failed, and their latencies.</summary>
internal sealed class StepCounts
{
    public int Sent;
    public int Answered;
    public int Failed;
    public int Skipped;
    public readonly List<double> LatenciesMs = [];
    public readonly List<string> Reasons = [];
}

/// <summary>
/// Open-loop load on one URL whose rate follows a function of wall time: every 10 ms the requests due by then (the
/// integral of the rate) are started, each on a fresh connection (<c>Connection: close</c>), at most 256 in flight (a
/// request due beyond that is counted as skipped, not sent). Nothing is retried; no whole 2xx answer within 10 s is a
/// failure. Each request is counted in the step (<paramref name="stepOf"/>) it started in.
/// </summary>
internal sealed class PacedLoad(Uri url, Func<double, double> ratePerSecond, Func<double, int> stepOf, int steps) : IAsyncDisposable
{
    private const int MaxInFlight = 256;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(10) };
    private readonly List<Task> _requests = [];
    private int _inFlight;
    private Task? _pacer;

    public StepCounts[] Steps { get; } = Enumerable.Range(0, steps).Select(_ => new StepCounts()).ToArray();

    public double Seconds => _clock.Elapsed.TotalSeconds;

    public void Start() => _pacer = Task.Run(PaceAsync);

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        if (_pacer is not null)
        {
            await _pacer;
        }

        Task[] pending;
        lock (_requests)
        {
            pending = [.. _requests];
        }

        await Task.WhenAll(pending);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _http.Dispose();
        _stop.Dispose();
    }

    private async Task PaceAsync()
    {
        var due = 0.0;
        var last = 0.0;
        while (!_stop.IsCancellationRequested)
        {
            var now = Seconds;
            due += ratePerSecond(now) * (now - last);
            last = now;
            var step = stepOf(now);
            while (due >= 1 && step >= 0 && step < Steps.Length)
            {
                due--;
                if (Volatile.Read(ref _inFlight) >= MaxInFlight)
                {
                    Interlocked.Increment(ref Steps[step].Skipped);
                    continue;
                }

                Interlocked.Increment(ref _inFlight);
                var task = SendAsync(Steps[step]);
                lock (_requests)
                {
                    _requests.RemoveAll(t => t.IsCompleted);
                    _requests.Add(task);
                }
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(10), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }
    }

    private async Task SendAsync(StepCounts counts)
    {
        Interlocked.Increment(ref counts.Sent);
        var started = Stopwatch.GetTimestamp();
        string? failure = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.ConnectionClose = true;
            using var response = await _http.SendAsync(request);
            _ = await response.Content.ReadAsByteArrayAsync();
            if (!response.IsSuccessStatusCode)
            {
                failure = $"HTTP {(int)response.StatusCode}";
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            failure = e.GetType().Name + ": " + e.Message;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }

        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        lock (counts)
        {
            counts.LatenciesMs.Add(ms);
            if (failure is null)
            {
                counts.Answered++;
            }
            else
            {
                counts.Failed++;
                if (counts.Reasons.Count < 3)
                {
                    counts.Reasons.Add(failure);
                }
            }
        }
    }
}
