namespace Pipeline.Registry;

/// <summary>
/// A key-value service registry (etcd by default, Consul over its HTTP API). Keys are plain strings
/// such as <c>pipeline/services/hello/live</c>; values are UTF-8 text (JSON for records).
/// Implementations know nothing of Cake.
/// </summary>
public interface IServiceRegistry : IDisposable
{
    /// <summary>What this registry talks to, for messages (e.g. <c>etcd http://127.0.0.1:2379</c>).</summary>
    string Description { get; }

    /// <summary>Checks the registry answers; throws <see cref="ServiceRegistryException"/> naming it otherwise.</summary>
    Task PingAsync(CancellationToken ct = default);

    /// <summary>The value of one key, or null.</summary>
    Task<string?> GetAsync(string key, CancellationToken ct = default);

    /// <summary>Every key starting with <paramref name="prefix"/>, with its value, ordered by key.</summary>
    Task<IReadOnlyDictionary<string, string>> GetPrefixAsync(string prefix, CancellationToken ct = default);

    /// <summary>Sets a key, optionally bound to a lease (the key disappears when the lease expires).</summary>
    Task PutAsync(string key, string value, long? leaseId = null, CancellationToken ct = default);

    /// <summary>Deletes a key; a missing key is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken ct = default);

    /// <summary>Deletes every key starting with <paramref name="prefix"/>.</summary>
    Task DeletePrefixAsync(string prefix, CancellationToken ct = default);

    /// <summary>
    /// Atomically sets <paramref name="key"/> to <paramref name="value"/> only if its current value is
    /// <paramref name="expected"/> (null: only if the key does not exist). Returns false when it was not set.
    /// </summary>
    Task<bool> CompareAndSwapAsync(string key, string? expected, string value, long? leaseId = null, CancellationToken ct = default);

    /// <summary>
    /// Sets <paramref name="key"/> only while <paramref name="fence"/> holds (its lock key exists, bound to its lease), in one
    /// transaction with that check. Returns false, writing nothing, when it does not hold.
    /// </summary>
    Task<bool> PutIfHeldAsync(LeaseFence fence, string key, string value, CancellationToken ct = default);

    /// <summary>Deletes <paramref name="key"/> (a missing key is not an error) only while <paramref name="fence"/> holds; false, deleting nothing, when it does not.</summary>
    Task<bool> DeleteIfHeldAsync(LeaseFence fence, string key, CancellationToken ct = default);

    /// <summary>Deletes every key starting with <paramref name="prefix"/> only while <paramref name="fence"/> holds; false, deleting nothing, when it does not.</summary>
    Task<bool> DeletePrefixIfHeldAsync(LeaseFence fence, string prefix, CancellationToken ct = default);

    /// <summary>Grants a lease that expires after <paramref name="ttl"/> unless kept alive; returns its id.</summary>
    Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default);

    /// <summary>Renews a lease once; false when it has already expired.</summary>
    Task<bool> KeepAliveAsync(long leaseId, CancellationToken ct = default);

    /// <summary>Revokes a lease, deleting its keys; an expired lease is not an error.</summary>
    Task RevokeLeaseAsync(long leaseId, CancellationToken ct = default);
}

/// <summary>
/// A condition a write is made under: the lock key <paramref name="LockKey"/> exists and is bound to the lease
/// <paramref name="LeaseId"/>, i.e. the lock is still held by whoever holds that lease (etcd: a transaction comparing the
/// key's lease; Consul: a transaction checking the key is locked by the lease's session). A writer that lost its lock
/// (the lease expired or was revoked, and perhaps another run took the lock) can then change nothing.
/// </summary>
/// <param name="LockKey">The lock's key.</param>
/// <param name="LeaseId">The lease the lock key must be bound to.</param>
public sealed record LeaseFence(string LockKey, long LeaseId);

/// <summary>A registry call failed; the message names the registry, the key and what it answered.</summary>
public sealed class ServiceRegistryException(string message, Exception? inner = null) : Exception(message, inner);
