using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.Runs;

/// <summary>
/// A run's presence in the service registry while it lives: <c>{prefix}/runs/{service}/{deployId}</c> holds its
/// <see cref="RunRecord"/> (kept until the run ends, so whoever finds it after a crash knows which run died), and
/// <c>{prefix}/runs/{service}/{deployId}/alive</c> is bound to a lease renewed every third of its TTL, so it disappears
/// within the TTL of the process dying (SIGKILL, power loss). <see cref="DisposeAsync"/> deletes both.
/// Whatever the run created that outlives it (test containers, undelivered notifications) is cleaned up or taken over
/// by another run only once <see cref="RunLiveness"/> proves it dead.
/// </summary>
public sealed class RunLease : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(5);
    private readonly IServiceRegistry _registry;
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _keepAlive;
    private int _disposed;

    private RunLease(IServiceRegistry registry, string key, RunRecord record, long leaseId, TimeSpan ttl, TimeProvider time)
    {
        _registry = registry;
        _time = time;
        _ttl = ttl;
        Key = key;
        Record = record;
        LeaseId = leaseId;
        _keepAlive = Task.Run(KeepAliveLoopAsync);
    }

    /// <summary>The run key.</summary>
    public string Key { get; }

    /// <summary>What the run key records.</summary>
    public RunRecord Record { get; }

    /// <summary>The lease the alive key is bound to.</summary>
    public long LeaseId { get; }

    /// <summary>The prefix of a service's run keys: <c>{prefix}/runs/{service}/</c>.</summary>
    public static string PrefixFor(string keyPrefix, string service) => $"{keyPrefix}/runs/{service}/";

    /// <summary>A run's key: <c>{prefix}/runs/{service}/{deployId}</c>.</summary>
    public static string KeyFor(string keyPrefix, string service, string deployId) => PrefixFor(keyPrefix, service) + deployId;

    /// <summary>A run's alive key (bound to its lease): <c>{prefix}/runs/{service}/{deployId}/alive</c>.</summary>
    public static string AliveKeyFor(string keyPrefix, string service, string deployId) => KeyFor(keyPrefix, service, deployId) + "/alive";

    /// <summary>Writes the run key and the alive key (bound to a new lease of <paramref name="ttl"/>) and starts renewing the lease.</summary>
    public static async Task<RunLease> StartAsync(IServiceRegistry registry, string keyPrefix, RunRecord record, TimeSpan ttl, TimeProvider time, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(record);
        var key = KeyFor(keyPrefix, record.Service, record.DeployId);
        var leaseId = await registry.GrantLeaseAsync(ttl, ct).ConfigureAwait(false);
        await registry.PutAsync(key, JsonSerializer.Serialize(record, Json), null, ct).ConfigureAwait(false);
        await registry.PutAsync(key + "/alive", record.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), leaseId, ct).ConfigureAwait(false);
        return new RunLease(registry, key, record, leaseId, ttl, time);
    }

    /// <summary>Reads a run key's record; null when absent or unreadable.</summary>
    internal static RunRecord? Parse(string? json)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<RunRecord>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Stops renewing, then deletes the alive key (revoking its lease) and the run key. Never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _keepAlive.ConfigureAwait(false);
        try
        {
            using var limit = new CancellationTokenSource(CleanupTimeout, _time);
            await _registry.RevokeLeaseAsync(LeaseId, limit.Token).ConfigureAwait(false);
            await _registry.DeleteAsync(Key, limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ServiceRegistryException or OperationCanceledException or HttpRequestException)
        {
            // The alive key expires with its lease; a run key without it reads as a dead run, which is what this is.
        }

        _stop.Dispose();
    }

    private async Task KeepAliveLoopAsync()
    {
        var interval = TimeSpan.FromTicks(Math.Max(_ttl.Ticks / 3, TimeSpan.FromMilliseconds(200).Ticks));
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _time, _stop.Token).ConfigureAwait(false);
                await _registry.KeepAliveAsync(LeaseId, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ServiceRegistryException or HttpRequestException or OperationCanceledException)
            {
                // A missed renewal is retried at the next interval; the lease outlives a few of them.
            }
        }
    }
}
