using System.Globalization;
using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.Locking;

/// <summary>Who holds a service's deploy lock, as recorded in the lock key's JSON value.</summary>
/// <param name="Service">The service being deployed.</param>
/// <param name="User">The user the holding process runs as.</param>
/// <param name="Host">The machine the holding process runs on.</param>
/// <param name="Pid">The holding process' id.</param>
/// <param name="DeployId">The holding run's deploy id.</param>
/// <param name="StartedAt">When the holder took the lock.</param>
/// <param name="TtlSeconds">The lease's time to live: how long the lock outlives its holder.</param>
public sealed record LockHolder(string Service, string User, string Host, int Pid, string DeployId, DateTimeOffset StartedAt, long TtlSeconds)
{
    /// <summary>A holder describing this process, for <paramref name="deployId"/>, taking the lock now.</summary>
    public static LockHolder ForThisProcess(string service, string deployId, TimeSpan ttl, TimeProvider? time = null) => new(
        service,
        System.Environment.UserName,
        System.Environment.MachineName,
        System.Environment.ProcessId,
        deployId,
        (time ?? TimeProvider.System).GetUtcNow(),
        TtlSecondsOf(ttl));

    /// <summary>"root@host pid 1234 (deploy 20261127064012-abc123, started 06:40:12 UTC, 35 s ago)".</summary>
    public string Describe(DateTimeOffset now) =>
        $"{User}@{Host} pid {Pid} (deploy {DeployId}, started {StartedAt.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)} UTC, " +
        $"{Math.Max(0, (now - StartedAt).TotalSeconds).ToString("0", CultureInfo.InvariantCulture)} s ago)";

    internal static long TtlSecondsOf(TimeSpan ttl) => (long)Math.Ceiling(ttl.TotalSeconds);
}

/// <summary>
/// One deploy per service at a time. The lock is the registry key <c>{prefix}/locks/{service}</c>, created only if
/// absent and bound to a lease: a background loop renews the lease every TTL/4, so the key disappears within the
/// TTL once its holder dies (kill -9, power loss). If the lease is gone or the key is no longer this holder's,
/// <see cref="Lost"/> is cancelled at once; if the registry does not answer, it is cancelled once
/// <see cref="LostAfter"/> (two thirds of the TTL) has passed since the last renewal was sent, which is before the
/// server can expire the lease and give the lock to another run. <see cref="Fence"/> is the condition every write of the
/// holder is made under (see <see cref="FencedServiceRegistry"/>). <see cref="ReleaseAsync"/> revokes the lease,
/// deleting the key at once.
/// </summary>
public sealed class DeploymentLock : IAsyncDisposable
{
    /// <summary>How often a waiting run retries when no interval is given.</summary>
    /// <value>250 milliseconds.</value>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How long revoking an unused lease, or releasing on dispose, may take (both are best effort: a lease expires on its own).</summary>
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(5);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly IServiceRegistry _registry;
    private readonly TimeProvider _time;
    private readonly string _value;
    private readonly TimeSpan _ttl;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _keepAlive;
    private readonly SemaphoreSlim _releasing = new(1, 1);
    private readonly Lock _gate = new();
    private bool _released;
    private int _disposed;

    private DeploymentLock(IServiceRegistry registry, string key, LockHolder holder, string value, long leaseId, TimeSpan ttl, TimeProvider time, long renewedAt)
    {
        _registry = registry;
        _time = time;
        _value = value;
        _ttl = ttl;
        Key = key;
        Holder = holder;
        LeaseId = leaseId;
        // The renewal schedule starts now, not whenever the loop first runs.
        var timer = new PeriodicTimer(RenewEvery, time);
        _keepAlive = Task.Run(() => KeepAliveLoopAsync(timer, renewedAt));
    }

    /// <summary>The lock key.</summary>
    public string Key { get; }

    /// <summary>What the lock key records about this holder.</summary>
    public LockHolder Holder { get; }

    /// <summary>The lease the key is bound to.</summary>
    public long LeaseId { get; }

    /// <summary>Cancelled when the lock is lost while held (lease expired or revoked elsewhere, key deleted or taken); never after a release.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>Why the lock was lost, once <see cref="Lost"/> is cancelled; otherwise null.</summary>
    public string? LostReason { get; private set; }

    /// <summary>The condition a write of this holder is made under: the lock key is still bound to this lock's lease.</summary>
    public LeaseFence Fence => new(Key, LeaseId);

    /// <summary>How often the lease is renewed: a quarter of the TTL.</summary>
    public TimeSpan RenewEvery => _ttl / 4;

    /// <summary>
    /// How long after the last renewal was sent the lock counts as lost when the registry does not answer: two thirds of
    /// the TTL. The server expires the lease no sooner than a TTL after it renewed it, so this leaves a third of the TTL
    /// before another run could take the lock.
    /// </summary>
    public TimeSpan LostAfter => _ttl * 2 / 3;

    /// <summary>
    /// Declares the lock lost (once; later calls do nothing): <see cref="LostReason"/> becomes
    /// "The deploy lock of {service} was lost: {problem}." and <see cref="Lost"/> is cancelled. Used when a write
    /// conditioned on holding it was refused.
    /// </summary>
    public void DeclareLost(string problem)
    {
        lock (_gate)
        {
            if (LostReason is not null || _released || Volatile.Read(ref _disposed) == 1)
            {
                return;
            }

            LostReason = $"The deploy lock of {Holder.Service} was lost: {problem}.";
        }

        try
        {
            _lost.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile: nobody listens any more.
        }
    }

    /// <summary>The lock key of <paramref name="service"/>: <c>{prefix}/locks/{service}</c>.</summary>
    public static string KeyFor(string keyPrefix, string service) => $"{keyPrefix}/locks/{service}";

    /// <summary>Who holds the lock of <paramref name="service"/> now, or null when nobody does.</summary>
    public static async Task<LockHolder?> ReadHolderAsync(IServiceRegistry registry, string keyPrefix, string service, CancellationToken ct = default) =>
        Parse(await registry.GetAsync(KeyFor(keyPrefix, service), ct));

    /// <summary>
    /// Takes the lock of <paramref name="holder"/>'s service. While another run holds it, retries every
    /// <paramref name="pollInterval"/> for up to <paramref name="timeout"/> (zero: one attempt), then throws
    /// <see cref="DeploymentLockedException"/> naming the holder. <paramref name="onWaiting"/> is told once when waiting starts.
    /// </summary>
    /// <exception cref="DeploymentLockedException">Another run kept the lock for the whole <paramref name="timeout"/>.</exception>
    public static async Task<DeploymentLock> AcquireAsync(
        IServiceRegistry registry,
        string keyPrefix,
        LockHolder holder,
        TimeSpan ttl,
        TimeSpan timeout,
        TimeProvider? time = null,
        Action<LockHolder>? onWaiting = null,
        TimeSpan? pollInterval = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(holder);
        if (ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A lock needs a positive TTL.");
        if (timeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The lock timeout cannot be negative.");
        time ??= TimeProvider.System;
        var poll = pollInterval ?? DefaultPollInterval;
        var key = KeyFor(keyPrefix, holder.Service);
        long? refused = null; // when the lock was first found held: waiting starts there
        long? lease = null;
        long renewedAt;
        var waiting = false;
        try
        {
            while (true)
            {
                // A lease left unrenewed while waiting expires: renew it before each attempt, or take a new one.
                renewedAt = time.GetTimestamp();
                if (lease is not { } current || !await registry.KeepAliveAsync(current, ct))
                {
                    lease = await registry.GrantLeaseAsync(ttl, ct);
                }

                var mine = holder with { StartedAt = time.GetUtcNow(), TtlSeconds = LockHolder.TtlSecondsOf(ttl) };
                var value = JsonSerializer.Serialize(mine, Json);
                if (await registry.CompareAndSwapAsync(key, null, value, lease, ct))
                {
                    var acquired = new DeploymentLock(registry, key, mine, value, lease.Value, ttl, time, renewedAt);
                    lease = null;
                    return acquired;
                }

                var other = Parse(await registry.GetAsync(key, ct));
                if (other is null)
                {
                    continue; // released between the attempt and the read: try again at once
                }

                refused ??= time.GetTimestamp();
                var waited = time.GetElapsedTime(refused.Value);
                if (waited >= timeout)
                {
                    throw new DeploymentLockedException(other, waited, time.GetUtcNow());
                }

                if (!waiting)
                {
                    waiting = true;
                    onWaiting?.Invoke(other);
                }

                var remaining = timeout - waited;
                await Task.Delay(remaining < poll ? remaining : poll, time, ct);
            }
        }
        finally
        {
            if (lease is { } unused)
            {
                using var cleanup = new CancellationTokenSource(CleanupTimeout, time);
                try
                {
                    await registry.RevokeLeaseAsync(unused, cleanup.Token);
                }
                catch (Exception e) when (e is ServiceRegistryException or OperationCanceledException)
                {
                    // An unused lease expires on its own within the TTL.
                }
            }
        }
    }

    /// <summary>Stops renewing and revokes the lease, deleting the lock key. Calling it again does nothing.</summary>
    /// <exception cref="ServiceRegistryException">The registry did not answer; the lock then expires within its TTL.</exception>
    public async Task ReleaseAsync(CancellationToken ct = default)
    {
        await _releasing.WaitAsync(ct);
        try
        {
            if (_released)
            {
                return;
            }

            await _stop.CancelAsync();
            await _keepAlive;
            await _registry.RevokeLeaseAsync(LeaseId, ct);
            _released = true;
        }
        finally
        {
            _releasing.Release();
        }
    }

    /// <summary>Releases the lock if still held (best effort: a lock that cannot be released expires within its TTL).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        using (var timeout = new CancellationTokenSource(CleanupTimeout, _time))
        {
            try
            {
                await ReleaseAsync(timeout.Token);
            }
            catch (Exception e) when (e is ServiceRegistryException or OperationCanceledException)
            {
                // The lease expires on its own within the TTL.
            }
        }

        _stop.Dispose();
        _lost.Dispose();
        _releasing.Dispose();
    }

    private async Task KeepAliveLoopAsync(PeriodicTimer timer, long renewedAt)
    {
        // renewedAt: when the last successful renewal (or the grant) was *sent*; the server renewed after that, so the lease
        // lives at least a TTL past it.
        var period = RenewEvery;
        using var _ = timer;
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                // Always ask, even late (a starved loop): a renewal that succeeds with the key still ours proves the lock is.
                // A call may take until LostAfter, so an unanswered registry is noticed then, not later.
                var sent = _time.GetTimestamp();
                var left = LostAfter - _time.GetElapsedTime(renewedAt);
                string? problem;
                try
                {
                    using var timeout = new CancellationTokenSource(left > period ? left : period, _time);
                    using var call = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timeout.Token);
                    problem = !await _registry.KeepAliveAsync(LeaseId, call.Token)
                        ? $"its lease {LeaseId} expired or was revoked"
                        : await _registry.GetAsync(Key, call.Token) != _value
                            ? $"the key {Key} was deleted or taken over"
                            : null;
                    if (problem is null)
                    {
                        renewedAt = sent;
                        continue;
                    }
                }
                catch (Exception e) when (e is ServiceRegistryException or HttpRequestException or OperationCanceledException && !_stop.IsCancellationRequested)
                {
                    // The registry did not answer: the lease may still be alive; give up once LostAfter has passed.
                    if (_time.GetElapsedTime(renewedAt) < LostAfter)
                    {
                        continue;
                    }

                    problem = NotRenewed(e.Message);
                }

                DeclareLost(problem);
                return;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Released.
        }
    }

    private string NotRenewed(string why) =>
        $"it could not be renewed for {LostAfter.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s of its {_ttl.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s TTL ({why}); " +
        "it is given up before the registry can give it to another run";

    private static LockHolder? Parse(string? json)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<LockHolder>(json, Json);
        }
        catch (JsonException)
        {
            return new LockHolder("?", "?", "?", 0, $"(unreadable lock value: {json})", DateTimeOffset.MinValue, 0);
        }
    }
}

/// <summary>
/// Another run held the service's deploy lock for the whole lock timeout; nothing was changed. The message names
/// the holder (user, host, pid, deploy id, since when) and how long this run waited.
/// </summary>
public sealed class DeploymentLockedException(LockHolder holder, TimeSpan waited, DateTimeOffset now) : Exception(
    $"{holder.Service} is being deployed by {holder.Describe(now)}; waited {waited.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s. " +
    $"Retry later, or if that process is dead the lock expires within {holder.TtlSeconds} s.")
{
    /// <summary>Who holds the lock.</summary>
    public LockHolder Holder { get; } = holder;

    /// <summary>How long this run waited for it.</summary>
    public TimeSpan Waited { get; } = waited;
}

/// <summary>
/// This run no longer holds its deploy lock (the lease expired or was revoked, the key was taken over, or a write
/// conditioned on holding it was refused): the run stops and changes nothing more; the next holder unwinds its journal.
/// </summary>
public sealed class DeploymentLockLostException(string message) : Exception(message);
