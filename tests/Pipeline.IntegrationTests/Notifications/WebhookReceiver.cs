using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Pipeline.IntegrationTests.Notifications;

/// <summary>One request the receiver got, and what it answered.</summary>
internal sealed record ReceivedWebhook(
    DateTimeOffset At,
    string Method,
    string Path,
    string? Authorization,
    string? IdempotencyKey,
    string? ContentType,
    long? ContentLength,
    string Body,
    int Answered)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string Event => Json.GetProperty("event").GetString()!;

    public string Id => Json.GetProperty("id").GetString()!;

    public bool Accepted => Answered is >= 200 and < 300;
}

/// <summary>
/// A real HTTP server on a free loopback port (HttpListener) that records every POST and answers as told: 200, or a
/// status with a Retry-After, or not at all (holds the request until disposed). What it answers can change while it runs.
/// </summary>
internal sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private volatile Func<int, (int Status, string? RetryAfter)> _answer = _ => (200, null);

    public WebhookReceiver()
    {
        Port = TestEnvironment.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    /// <summary>The URL with <paramref name="path"/>, optionally with user info.</summary>
    public string Url(string path = "/hooks/deploys", string? userInfo = null) =>
        $"http://{(userInfo is null ? "" : userInfo + "@")}127.0.0.1:{Port}{path}";

    public IReadOnlyList<ReceivedWebhook> Received => _received.ToList();

    public IReadOnlyList<ReceivedWebhook> Accepted => Received.Where(r => r.Accepted).ToList();

    /// <summary>From now on, answer the nth request (counted from 0 over the receiver's life) with what <paramref name="answer"/> says; status 0 = never answer.</summary>
    public void AnswerWith(Func<int, (int Status, string? RetryAfter)> answer) => _answer = answer;

    /// <summary>Waits until <paramref name="condition"/> holds over what was received.</summary>
    public async Task WaitForAsync(Func<IReadOnlyList<ReceivedWebhook>, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition(Received))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The webhook receiver did not see {what} within {timeout.TotalSeconds:0} s; it got: {string.Join("; ", Received.Select(r => $"{r.Event} -> {r.Answered}"))}");
            }

            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        var count = 0;
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            var index = count++;
            _ = Task.Run(() => AnswerAsync(context, index));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context, int index)
    {
        using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var (status, retryAfter) = _answer(index);
        _received.Enqueue(new ReceivedWebhook(
            DateTimeOffset.UtcNow,
            context.Request.HttpMethod,
            context.Request.Url!.AbsolutePath,
            context.Request.Headers["Authorization"],
            context.Request.Headers["Idempotency-Key"],
            context.Request.ContentType,
            context.Request.HasEntityBody && context.Request.ContentLength64 >= 0 ? context.Request.ContentLength64 : null,
            body,
            status));
        if (status == 0)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        context.Response.StatusCode = status;
        if (retryAfter is not null)
        {
            context.Response.Headers["Retry-After"] = retryAfter;
        }

        context.Response.Close();
    }
}
