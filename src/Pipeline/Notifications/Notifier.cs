using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using Pipeline.Registry;
using Pipeline.Runs;

namespace Pipeline.Notifications;

/// <summary>
/// Posts a deploy's events to its webhooks without ever holding the deploy up or failing it. <see cref="PublishAsync"/>
/// puts the event in the <see cref="NotificationOutbox"/> (one entry per webhook) and hands it to that webhook's queue,
/// which a background worker delivers in order: retried with exponential backoff (honouring <c>Retry-After</c>) on
/// network errors, 408, 425, 429 and 5xx; dropped with a warning on any other refusal; deleted from the outbox once
/// accepted. <see cref="DrainAsync"/> gives what is still in flight a bounded time at the end of the run; what is left
/// stays in the outbox, and <see cref="ResumeAsync"/> in a later run delivers what runs that are provably dead left there.
/// </summary>
public sealed class Notifier : IAsyncDisposable
{
    /// <summary>How many times one event is tried per webhook in one run.</summary>
    public const int MaxAttempts = 5;

    /// <summary>How long one POST may take.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The first pause between attempts; it doubles after each one.</summary>
    public static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);

    /// <summary>The longest pause a <c>Retry-After</c> may ask for (longer asks wait this long).</summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(60);

    /// <summary>An outbox entry for a webhook no run is given any more is dropped this long after it was written.</summary>
    public static readonly TimeSpan OrphanExpiry = TimeSpan.FromDays(7);

    private static readonly TimeSpan OutboxTimeout = TimeSpan.FromSeconds(5);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly IReadOnlyList<WebhookTarget> _targets;
    private readonly NotificationOutbox _outbox;
    private readonly RunLiveness _liveness;
    private readonly string _deployId;
    private readonly TimeProvider _time;
    private readonly Action<string> _info;
    private readonly Action<string> _warn;
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, Channel<(string? Key, Notification Notification)>> _queues = [];
    private readonly List<Task> _workers = [];
    private int _pending;
    private bool _drained;

    /// <summary>Creates the notifier and starts one delivery worker per webhook.</summary>
    /// <param name="targets">The webhooks.</param>
    /// <param name="outbox">The service's outbox.</param>
    /// <param name="liveness">Tells whether the run that left an outbox entry is dead.</param>
    /// <param name="deployId">This run's deploy id.</param>
    /// <param name="time">The clock (backoff, Retry-After dates, the drain's grace).</param>
    /// <param name="info">Where deliveries and retries are told (URLs shown without credentials).</param>
    /// <param name="warn">Where deliveries given up are told.</param>
    /// <param name="handler">The HTTP handler; a new <see cref="SocketsHttpHandler"/> when null.</param>
    public Notifier(
        IReadOnlyList<WebhookTarget> targets,
        NotificationOutbox outbox,
        RunLiveness liveness,
        string deployId,
        TimeProvider time,
        Action<string> info,
        Action<string> warn,
        HttpMessageHandler? handler = null)
    {
        _targets = targets;
        _outbox = outbox;
        _liveness = liveness;
        _deployId = deployId;
        _time = time;
        _info = info;
        _warn = warn;
        _http = new HttpClient(handler ?? new SocketsHttpHandler { ConnectTimeout = RequestTimeout }) { Timeout = Timeout.InfiniteTimeSpan };
        foreach (var target in targets.DistinctBy(t => t.Id))
        {
            var queue = Channel.CreateUnbounded<(string?, Notification)>(new UnboundedChannelOptions { SingleReader = true });
            _queues[target.Id] = queue;
            _workers.Add(Task.Run(() => WorkAsync(target, queue.Reader)));
        }
    }

    /// <summary>How many deliveries are queued or in flight.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>
    /// Puts <paramref name="notification"/> in the outbox for every webhook (a registry that does not answer within a few
    /// seconds only costs the crash safety of this one event: it is still delivered) and queues its delivery. Returns
    /// without waiting for any delivery.
    /// </summary>
    public async Task PublishAsync(Notification notification, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(notification);
        foreach (var target in _targets.DistinctBy(t => t.Id))
        {
            string? key = null;
            try
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                limit.CancelAfter(OutboxTimeout);
                key = await _outbox.AddAsync(new OutboxEntry(notification, target.Id, target.ToString(), _time.GetUtcNow()), limit.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ServiceRegistryException or HttpRequestException or OperationCanceledException)
            {
                _warn($"notify: could not put {notification.Event} for {target} in the outbox ({e.Message}); delivering it without (a crash now would lose it).");
            }

            Enqueue(target.Id, key, notification);
        }
    }

    /// <summary>
    /// Takes over what dead runs of the service left in the outbox for this run's webhooks (claimed with a compare-and-swap,
    /// so two runs never both deliver it) and queues it ahead of this run's own events; returns how many it took.
    /// Entries for webhooks this run is not given wait for a run that is, up to <see cref="OrphanExpiry"/>.
    /// </summary>
    public async Task<int> ResumeAsync(CancellationToken ct = default)
    {
        var taken = 0;
        foreach (var (key, raw, entry) in await _outbox.ListAsync(ct).ConfigureAwait(false))
        {
            var owner = entry.ClaimedBy ?? entry.Notification.DeployId;
            if (owner == _deployId || !(await _liveness.CheckAsync(owner, ct).ConfigureAwait(false)).Dead)
            {
                continue;
            }

            if (!_queues.ContainsKey(entry.TargetId))
            {
                if (_time.GetUtcNow() - entry.CreatedAt > OrphanExpiry)
                {
                    await _outbox.RemoveAsync(key, ct).ConfigureAwait(false);
                    _warn($"notify: dropped {entry.Notification.Event} of deploy {entry.Notification.DeployId} for {entry.Target}: undelivered for {OrphanExpiry.TotalDays:0} days and no run is given that webhook.");
                }

                continue;
            }

            if (await _outbox.TryClaimAsync(key, raw, entry, _deployId, ct).ConfigureAwait(false))
            {
                _info($"notify: resuming delivery of {entry.Notification.Event} of deploy {entry.Notification.DeployId} (a run that died) to {entry.Target}.");
                Enqueue(entry.TargetId, key, entry.Notification);
                taken++;
            }
        }

        return taken;
    }

    /// <summary>
    /// No more events: waits up to <paramref name="grace"/> for the queued deliveries, then stops the rest (they stay in
    /// the outbox for the next run, which is told). Never throws.
    /// </summary>
    public async Task DrainAsync(TimeSpan grace)
    {
        if (_drained)
        {
            return;
        }

        _drained = true;
        foreach (var queue in _queues.Values)
        {
            queue.Writer.TryComplete();
        }

        var all = Task.WhenAll(_workers);
        using var timer = new CancellationTokenSource();
        var finished = await Task.WhenAny(all, Task.Delay(grace, _time, timer.Token)).ConfigureAwait(false);
        await timer.CancelAsync().ConfigureAwait(false);
        if (finished != all)
        {
            var left = Pending;
            await _stop.CancelAsync().ConfigureAwait(false);
            _warn($"notify: {left} notification(s) not delivered within {grace.TotalSeconds:0.#} s; they stay in the outbox and the next run of the service delivers them.");
        }

        await all.ConfigureAwait(false);
    }

    /// <summary>Drains with no grace (what is left stays in the outbox) and closes the HTTP client.</summary>
    public async ValueTask DisposeAsync()
    {
        await DrainAsync(TimeSpan.Zero).ConfigureAwait(false);
        _http.Dispose();
        _stop.Dispose();
    }

    private void Enqueue(string targetId, string? key, Notification notification)
    {
        Interlocked.Increment(ref _pending);
        if (!_queues[targetId].Writer.TryWrite((key, notification)))
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    private async Task WorkAsync(WebhookTarget target, ChannelReader<(string? Key, Notification Notification)> queue)
    {
        try
        {
            await foreach (var (key, notification) in queue.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    if (await DeliverAsync(target, notification, _stop.Token).ConfigureAwait(false) is { } delivered)
                    {
                        if (key is not null)
                        {
                            using var limit = new CancellationTokenSource(OutboxTimeout, _time);
                            await _outbox.RemoveAsync(key, limit.Token).ConfigureAwait(false);
                        }

                        // Said once the outbox forgot it: from here no later run delivers it again.
                        if (delivered.Length > 0)
                        {
                            _info(delivered);
                        }
                    }
                }
                catch (Exception e) when (e is ServiceRegistryException or HttpRequestException or OperationCanceledException && !_stop.IsCancellationRequested)
                {
                    _warn($"notify: {notification.Event} reached {target}, but its outbox entry could not be deleted ({e.Message}); a later run may deliver it again (same Idempotency-Key).");
                }
                finally
                {
                    Interlocked.Decrement(ref _pending);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Delivers with retries. Returns what to log once the outbox entry is deleted (accepted: the line saying so; refused for
    /// good: empty, the warning is said already), or null when it stays in the outbox.
    /// </summary>
    private async Task<string?> DeliverAsync(WebhookTarget target, Notification notification, CancellationToken ct)
    {
        var last = "";
        for (var attempt = 1; ; attempt++)
        {
            TimeSpan? retryAfter = null;
            try
            {
                // A string body (with Content-Length): simple receivers do not all read a chunked one.
                using var request = new HttpRequestMessage(HttpMethod.Post, target.RequestUrl)
                {
                    Content = new StringContent(JsonSerializer.Serialize(notification, Json), System.Text.Encoding.UTF8, "application/json"),
                };
                request.Headers.Authorization = target.Authorization;
                request.Headers.TryAddWithoutValidation("Idempotency-Key", notification.Id);
                request.Headers.UserAgent.Add(new ProductInfoHeaderValue("Pipeline", typeof(Notifier).Assembly.GetName().Version?.ToString(3) ?? "1.0"));
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                limit.CancelAfter(RequestTimeout);
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit.Token).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    return $"notify: {notification.Event} delivered to {target} (HTTP {status}{(attempt > 1 ? $", attempt {attempt}" : "")}).";
                }

                if (!IsTransient(response.StatusCode))
                {
                    _warn($"notify: {target} refused {notification.Event} with HTTP {status} {response.ReasonPhrase}; not retried (fix the webhook URL or the receiver).");
                    return "";
                }

                last = $"HTTP {status} {response.ReasonPhrase}";
                retryAfter = RetryAfterOf(response.Headers.RetryAfter);
            }
            catch (HttpRequestException e)
            {
                last = e.HttpRequestError == HttpRequestError.ConnectionError ? "connection refused or unreachable" : e.Message;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                last = $"no answer within {RequestTimeout.TotalSeconds:0} s";
            }

            if (attempt == MaxAttempts)
            {
                _warn($"notify: {notification.Event} not delivered to {target} after {MaxAttempts} attempts (last: {last}); it stays in the outbox and the next run of the service delivers it.");
                return null;
            }

            var delay = retryAfter is { } asked
                ? TimeSpan.FromTicks(Math.Clamp(asked.Ticks, 0, MaxRetryDelay.Ticks))
                : FirstRetryDelay * Math.Pow(2, attempt - 1);
            _info($"notify: {notification.Event} to {target}: {last}; attempt {attempt + 1} of {MaxAttempts} in {delay.TotalSeconds:0.#} s{(retryAfter is null ? "" : " (Retry-After)")}.");
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
    }

    private TimeSpan? RetryAfterOf(RetryConditionHeaderValue? header) =>
        header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or (HttpStatusCode)425 || (int)status >= 500;
}
