using Pipeline.Registry;

namespace Pipeline.Locking;

/// <summary>
/// The service registry as a run writes to it: every put and delete of data (journal, releases, colour, history) is a
/// transaction conditioned on the run still holding its deploy lock (<see cref="IServiceRegistry.PutIfHeldAsync"/> with
/// the lock's <see cref="DeploymentLock.Fence"/>). A write without the lock is refused before it reaches the registry; a
/// write the registry refuses because the lock key is no longer bound to the run's lease declares the lock lost, so the
/// run stops and changes nothing more. Reads, leases and compare-and-swap (how locks are taken) pass through.
/// </summary>
/// <param name="inner">The registry client (not disposed here).</param>
/// <param name="held">The run's deploy lock while it holds it, else null.</param>
/// <param name="service">The service whose lock fences the writes, for messages.</param>
public sealed class FencedServiceRegistry(IServiceRegistry inner, Func<DeploymentLock?> held, string service) : IServiceRegistry
{
    /// <inheritdoc />
    public string Description => inner.Description;

    /// <inheritdoc />
    public Task PingAsync(CancellationToken ct = default) => inner.PingAsync(ct);

    /// <inheritdoc />
    public Task<string?> GetAsync(string key, CancellationToken ct = default) => inner.GetAsync(key, ct);

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, string>> GetPrefixAsync(string prefix, CancellationToken ct = default) => inner.GetPrefixAsync(prefix, ct);

    /// <inheritdoc />
    /// <exception cref="DeploymentLockNotHeldException">This run does not hold its deploy lock.</exception>
    /// <exception cref="DeploymentLockLostException">It held the lock but no longer does.</exception>
    public Task PutAsync(string key, string value, long? leaseId = null, CancellationToken ct = default) =>
        leaseId is not null
            ? inner.PutAsync(key, value, leaseId, ct) // bound to a lease of its own: a lock's key, not data
            : FencedAsync($"put '{key}'", fence => inner.PutIfHeldAsync(fence, key, value, ct));

    /// <inheritdoc />
    /// <exception cref="DeploymentLockNotHeldException">This run does not hold its deploy lock.</exception>
    /// <exception cref="DeploymentLockLostException">It held the lock but no longer does.</exception>
    public Task DeleteAsync(string key, CancellationToken ct = default) =>
        FencedAsync($"delete '{key}'", fence => inner.DeleteIfHeldAsync(fence, key, ct));

    /// <inheritdoc />
    /// <exception cref="DeploymentLockNotHeldException">This run does not hold its deploy lock.</exception>
    /// <exception cref="DeploymentLockLostException">It held the lock but no longer does.</exception>
    public Task DeletePrefixAsync(string prefix, CancellationToken ct = default) =>
        FencedAsync($"delete keys under '{prefix}'", fence => inner.DeletePrefixIfHeldAsync(fence, prefix, ct));

    /// <inheritdoc />
    public Task<bool> CompareAndSwapAsync(string key, string? expected, string value, long? leaseId = null, CancellationToken ct = default) =>
        inner.CompareAndSwapAsync(key, expected, value, leaseId, ct);

    /// <inheritdoc />
    public Task<bool> PutIfHeldAsync(LeaseFence fence, string key, string value, CancellationToken ct = default) => inner.PutIfHeldAsync(fence, key, value, ct);

    /// <inheritdoc />
    public Task<bool> DeleteIfHeldAsync(LeaseFence fence, string key, CancellationToken ct = default) => inner.DeleteIfHeldAsync(fence, key, ct);

    /// <inheritdoc />
    public Task<bool> DeletePrefixIfHeldAsync(LeaseFence fence, string prefix, CancellationToken ct = default) => inner.DeletePrefixIfHeldAsync(fence, prefix, ct);

    /// <inheritdoc />
    public Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default) => inner.GrantLeaseAsync(ttl, ct);

    /// <inheritdoc />
    public Task<bool> KeepAliveAsync(long leaseId, CancellationToken ct = default) => inner.KeepAliveAsync(leaseId, ct);

    /// <inheritdoc />
    public Task RevokeLeaseAsync(long leaseId, CancellationToken ct = default) => inner.RevokeLeaseAsync(leaseId, ct);

    /// <summary>Nothing: the client underneath belongs to whoever made it.</summary>
    public void Dispose()
    {
    }

    private async Task FencedAsync(string operation, Func<LeaseFence, Task<bool>> write)
    {
        var lockHeld = held() ?? throw new DeploymentLockNotHeldException(
            $"Refused to {operation}: this run does not hold the deploy lock of {service}, and every registry write of a run is made holding it.");
        if (lockHeld.LostReason is { } lost)
        {
            throw new DeploymentLockLostException($"{lost} Refused to {operation}.");
        }

        if (!await write(lockHeld.Fence))
        {
            lockHeld.DeclareLost($"{inner.Description} refused to {operation} because {lockHeld.Key} is no longer bound to this run's lease {lockHeld.LeaseId:x}");
            throw new DeploymentLockLostException(lockHeld.LostReason ?? $"The deploy lock of {service} was lost.");
        }
    }
}

/// <summary>A run tried to change the registry (and so production) without holding its service's deploy lock; nothing was written.</summary>
public sealed class DeploymentLockNotHeldException(string message) : Exception(message);
