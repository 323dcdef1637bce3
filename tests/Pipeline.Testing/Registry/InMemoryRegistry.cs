using Pipeline.Registry;

namespace Pipeline.Testing.Support;

/// <summary>
/// An <see cref="IServiceRegistry"/> held in memory with etcd's semantics: keys ordered by ordinal, atomic
/// compare-and-swap, leases that expire on the given clock and take their keys with them. For fast tests of what
/// sits on the registry (journal, rollback, locks); it passes the same registry contract as etcd and Consul.
/// <see cref="Connect"/> gives another client of the same store (as another process would have); <see cref="Refuse"/>
/// makes chosen calls fail the way an unreachable registry does.
/// </summary>
public sealed class InMemoryRegistry : IServiceRegistry
{
    private readonly Store _store;

    /// <summary>A new, empty registry named <paramref name="name"/>, whose leases expire on <paramref name="time"/> (the system clock when null).</summary>
    public InMemoryRegistry(string name = "memory", TimeProvider? time = null)
        : this(new Store(name, time ?? TimeProvider.System))
    {
    }

    private InMemoryRegistry(Store store) => _store = store;

    /// <inheritdoc />
    public string Description => $"in-memory registry {_store.Name}";

    /// <summary>
    /// When set, every call whose operation it returns true for (e.g. <c>get 'a/b'</c>, <c>list keys under 'a/'</c>,
    /// <c>put 'a/b'</c>, <c>delete 'a/b'</c>, <c>grant a lease of 10 s</c>) throws <see cref="ServiceRegistryException"/>
    /// as if the registry did not answer. Shared by every client of the store.
    /// </summary>
    public Func<string, bool>? Refuse
    {
        get => _store.Refuse;
        set => _store.Refuse = value;
    }

    /// <summary>Another client of the same store.</summary>
    public InMemoryRegistry Connect() => new(_store);

    /// <summary>Every key and value, ordered by key (leases that expired are gone).</summary>
    public IReadOnlyDictionary<string, string> Snapshot() => _store.Locked("", s => s.Range(""));

    /// <inheritdoc />
    public Task PingAsync(CancellationToken ct = default) => Call("answer a ping", ct, _ => 0);

    /// <inheritdoc />
    public Task<string?> GetAsync(string key, CancellationToken ct = default) =>
        Call($"get '{key}'", ct, s => s.Entries.TryGetValue(key, out var entry) ? entry.Value : null);

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, string>> GetPrefixAsync(string prefix, CancellationToken ct = default) =>
        Call($"list keys under '{prefix}'", ct, s => s.Range(prefix));

    /// <inheritdoc />
    public Task PutAsync(string key, string value, long? leaseId = null, CancellationToken ct = default) =>
        Call(leaseId is { } id ? $"put '{key}' with lease {id}" : $"put '{key}'", ct, s => s.Put(key, value, leaseId, $"put '{key}'"));

    /// <inheritdoc />
    public Task DeleteAsync(string key, CancellationToken ct = default) =>
        Call($"delete '{key}'", ct, s => s.Entries.Remove(key));

    /// <inheritdoc />
    public Task DeletePrefixAsync(string prefix, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        return Call($"delete keys under '{prefix}'", ct, s => s.Range(prefix).Keys.Count(s.Entries.Remove));
    }

    /// <inheritdoc />
    public Task<bool> CompareAndSwapAsync(string key, string? expected, string value, long? leaseId = null, CancellationToken ct = default) =>
        Call($"compare-and-swap '{key}'", ct, s =>
        {
            var current = s.Entries.TryGetValue(key, out var entry) ? entry.Value : null;
            if (current != expected)
            {
                return false;
            }

            s.Put(key, value, leaseId, $"compare-and-swap '{key}'");
            return true;
        });

    /// <inheritdoc />
    public Task<bool> PutIfHeldAsync(LeaseFence fence, string key, string value, CancellationToken ct = default) =>
        Call($"put '{key}' holding {fence.LockKey}", ct, s => s.Holds(fence) && s.Put(key, value, null, $"put '{key}'"));

    /// <inheritdoc />
    public Task<bool> DeleteIfHeldAsync(LeaseFence fence, string key, CancellationToken ct = default) =>
        Call($"delete '{key}' holding {fence.LockKey}", ct, s =>
        {
            if (!s.Holds(fence))
            {
                return false;
            }

            s.Entries.Remove(key);
            return true;
        });

    /// <inheritdoc />
    public Task<bool> DeletePrefixIfHeldAsync(LeaseFence fence, string prefix, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        return Call($"delete keys under '{prefix}' holding {fence.LockKey}", ct, s =>
        {
            if (!s.Holds(fence))
            {
                return false;
            }

            foreach (var key in s.Range(prefix).Keys)
            {
                s.Entries.Remove(key);
            }

            return true;
        });
    }

    /// <inheritdoc />
    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        return Call($"grant a lease of {ttl.TotalSeconds:0.#} s", ct, s =>
        {
            var id = ++s.LastLeaseId;
            s.Leases[id] = new Lease(ttl, s.Time.GetUtcNow() + ttl);
            return id;
        });
    }

    /// <inheritdoc />
    public Task<bool> KeepAliveAsync(long leaseId, CancellationToken ct = default) =>
        Call($"renew lease {leaseId}", ct, s =>
        {
            if (!s.Leases.TryGetValue(leaseId, out var lease))
            {
                return false;
            }

            s.Leases[leaseId] = lease with { ExpiresAt = s.Time.GetUtcNow() + lease.Ttl };
            return true;
        });

    /// <inheritdoc />
    public Task RevokeLeaseAsync(long leaseId, CancellationToken ct = default) =>
        Call($"revoke lease {leaseId}", ct, s => s.Revoke(leaseId));

    /// <summary>Nothing to release: the store lives on for its other clients.</summary>
    public void Dispose()
    {
    }

    private Task<T> Call<T>(string operation, CancellationToken ct, Func<Store, T> body)
    {
        ct.ThrowIfCancellationRequested();
        try
        {
            return Task.FromResult(_store.Locked(operation, body));
        }
        catch (ServiceRegistryException e)
        {
            return Task.FromException<T>(e);
        }
    }

    private sealed record Lease(TimeSpan Ttl, DateTimeOffset ExpiresAt);

    private sealed record Entry(string Value, long? LeaseId);

    private sealed class Store(string name, TimeProvider time)
    {
        private readonly Lock _gate = new();

        public string Name { get; } = name;

        public TimeProvider Time { get; } = time;

        public Func<string, bool>? Refuse { get; set; }

        public SortedDictionary<string, Entry> Entries { get; } = new(StringComparer.Ordinal);

        public Dictionary<long, Lease> Leases { get; } = [];

        public long LastLeaseId { get; set; }

        public T Locked<T>(string operation, Func<Store, T> body)
        {
            lock (_gate)
            {
                if (operation.Length > 0 && Refuse?.Invoke(operation) == true)
                {
                    throw new ServiceRegistryException($"Could not reach the in-memory registry {Name} to {operation}: it was told to refuse.");
                }

                foreach (var expired in Leases.Where(l => l.Value.ExpiresAt <= Time.GetUtcNow()).Select(l => l.Key).ToList())
                {
                    Revoke(expired);
                }

                return body(this);
            }
        }

        public IReadOnlyDictionary<string, string> Range(string prefix)
        {
            var range = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, entry) in Entries.Where(e => e.Key.StartsWith(prefix, StringComparison.Ordinal)))
            {
                range[key] = entry.Value;
            }

            return range;
        }

        public bool Put(string key, string value, long? leaseId, string operation)
        {
            if (leaseId is { } id && !Leases.ContainsKey(id))
            {
                throw new ServiceRegistryException($"The in-memory registry {Name} refused to {operation} with lease {id}: requested lease not found");
            }

            Entries[key] = new Entry(value, leaseId);
            return true;
        }

        public bool Holds(LeaseFence fence) =>
            Entries.TryGetValue(fence.LockKey, out var entry) && entry.LeaseId == fence.LeaseId && Leases.ContainsKey(fence.LeaseId);

        public bool Revoke(long leaseId)
        {
            foreach (var key in Entries.Where(e => e.Value.LeaseId == leaseId).Select(e => e.Key).ToList())
            {
                Entries.Remove(key);
            }

            return Leases.Remove(leaseId);
        }
    }
}
