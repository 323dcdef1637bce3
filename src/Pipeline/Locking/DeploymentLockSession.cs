using Cake.Core.Diagnostics;
using Pipeline.Registry;

namespace Pipeline.Locking;

/// <summary>
/// One run's use of its service's deploy lock (<see cref="DeploymentLock"/>): taken once, waiting up to the lock
/// timeout and saying so; if the lock is lost while held, the run is stopped and changes nothing more; released once,
/// never throwing (a lock that cannot be released expires within its TTL).
/// </summary>
/// <param name="registry">The service registry holding the lock.</param>
/// <param name="keyPrefix">Pipeline's key prefix.</param>
/// <param name="service">The service whose lock this is.</param>
/// <param name="deployId">This run's deploy id, recorded in the lock.</param>
/// <param name="ttl">The lock's lease.</param>
/// <param name="timeout">How long to wait while another run holds it.</param>
/// <param name="releaseTimeout">How long releasing may take.</param>
/// <param name="time">The clock.</param>
/// <param name="log">Where the session says what it waits for, took, lost and released.</param>
/// <param name="stopRun">Called once if the lock is lost while held.</param>
public sealed class DeploymentLockSession(
    IServiceRegistry registry,
    string keyPrefix,
    string service,
    string deployId,
    TimeSpan ttl,
    TimeSpan timeout,
    TimeSpan releaseTimeout,
    TimeProvider time,
    ICakeLog log,
    Action stopRun) : IAsyncDisposable
{
    private DeploymentLock? _held;

    /// <summary>The lock while this run holds it; null before <see cref="AcquireAsync"/> and after <see cref="ReleaseAsync"/>.</summary>
    public DeploymentLock? Held => _held;

    /// <summary>
    /// Takes the lock (waiting up to the lock timeout, logging once that it waits and for whom), bound to a lease of
    /// the lock TTL. Does nothing while this run already holds it.
    /// </summary>
    /// <exception cref="DeploymentLockedException">Another run held the lock for the whole timeout.</exception>
    public async Task AcquireAsync(CancellationToken ct = default)
    {
        if (_held is not null)
        {
            return;
        }

        var held = await DeploymentLock.AcquireAsync(
            registry,
            keyPrefix,
            LockHolder.ForThisProcess(service, deployId, ttl, time),
            ttl,
            timeout,
            time,
            onWaiting: other => log.Information(
                $"{service} is being deployed by {other.Describe(time.GetUtcNow())}; waiting up to {timeout.TotalSeconds:0} s for its lock."),
            ct: ct);
        _held = held;
        var acquiredAt = time.GetUtcNow().UtcDateTime;
        held.Lost.Register(() =>
        {
            log.Error($"{held.LostReason} Stopping this run: it changes nothing more (the next holder of the lock, or --target=Rollback, unwinds its journal).");
            stopRun();
        });
        log.Information($"Took the deploy lock {held.Key} for deploy {deployId} at {acquiredAt:yyyy-MM-ddTHH:mm:ss.fffZ} (lease {held.LeaseId:x}, TTL {held.Holder.TtlSeconds} s).");
    }

    /// <summary>Releases the lock if this run holds it; calling it again (or without a lock) does nothing. Never throws.</summary>
    public async Task ReleaseAsync()
    {
        if (Interlocked.Exchange(ref _held, null) is not { } held)
        {
            return;
        }

        // Logged times bound the hold from inside: taken after the lock is ours, released before it is given up.
        var releasingAt = time.GetUtcNow().UtcDateTime;
        try
        {
            using var limit = new CancellationTokenSource(releaseTimeout, time);
            await held.ReleaseAsync(limit.Token);
            log.Information($"Released the deploy lock {held.Key} of deploy {deployId} at {releasingAt:yyyy-MM-ddTHH:mm:ss.fffZ}.");
        }
        catch (Exception e) when (e is ServiceRegistryException or OperationCanceledException)
        {
            log.Warning($"Could not release the deploy lock {held.Key} ({e.Message}); it expires within {held.Holder.TtlSeconds} s.");
        }
        finally
        {
            await held.DisposeAsync();
        }
    }

    /// <summary>Releases the lock if still held (see <see cref="ReleaseAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await ReleaseAsync();
}
