using System.Diagnostics;
using Pipeline.Registry;

namespace Pipeline.Runs;

/// <summary>
/// Tells whether a run (by its deploy id) is provably dead, from its run keys (<see cref="RunLease"/>): a run whose alive
/// key is gone is dead (its lease expired or it ended), and so is one whose alive key still waits for its lease to expire
/// when it ran on this machine and its process is gone (or the pid now belongs to a later process). A run on another
/// machine whose lease has not expired yet counts as alive: never by age.
/// </summary>
/// <param name="registry">The service registry.</param>
/// <param name="keyPrefix">Pipeline's key prefix.</param>
/// <param name="service">The service.</param>
public sealed class RunLiveness(IServiceRegistry registry, string keyPrefix, string service)
{
    /// <summary>How far a process' start time may differ from the recorded one and still be the same process.</summary>
    private static readonly TimeSpan StartTimeTolerance = TimeSpan.FromSeconds(2);

    /// <summary>Whether the run <paramref name="deployId"/> is provably dead; with the reason.</summary>
    public async Task<(bool Dead, string Why)> CheckAsync(string deployId, CancellationToken ct = default)
    {
        var record = RunLease.Parse(await registry.GetAsync(RunLease.KeyFor(keyPrefix, service, deployId), ct).ConfigureAwait(false));
        var alive = await registry.GetAsync(RunLease.AliveKeyFor(keyPrefix, service, deployId), ct).ConfigureAwait(false);
        if (alive is null)
        {
            return (true, record is null ? $"run {deployId} has ended (no run key)" : $"{record} stopped renewing its lease");
        }

        if (record is not null && record.Host == Environment.MachineName && !IsRunning(record))
        {
            return (true, $"{record} is gone from this machine");
        }

        return (false, record is null ? $"run {deployId} is alive" : $"{record} is alive");
    }

    /// <summary>The records of this service's runs that are provably dead but were never ended (their run key is still there).</summary>
    public async Task<IReadOnlyList<RunRecord>> FindDeadRunsAsync(string exceptDeployId, CancellationToken ct = default)
    {
        var keys = await registry.GetPrefixAsync(RunLease.PrefixFor(keyPrefix, service), ct).ConfigureAwait(false);
        var dead = new List<RunRecord>();
        foreach (var (key, value) in keys.Where(k => !k.Key.EndsWith("/alive", StringComparison.Ordinal)))
        {
            if (RunLease.Parse(value) is { } record && record.DeployId != exceptDeployId && (await CheckAsync(record.DeployId, ct).ConfigureAwait(false)).Dead)
            {
                dead.Add(record);
            }
        }

        return dead.OrderBy(r => r.StartedAt).ToList();
    }

    /// <summary>Forgets a dead run's key once what it left behind was dealt with.</summary>
    public Task ForgetAsync(string deployId, CancellationToken ct = default) =>
        registry.DeleteAsync(RunLease.KeyFor(keyPrefix, service, deployId), ct);

    private static bool IsRunning(RunRecord record)
    {
        try
        {
            using var process = Process.GetProcessById(record.Pid);
            if (process.HasExited)
            {
                return false;
            }

            var started = new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
            return (started - record.ProcessStartedAt).Duration() <= StartTimeTolerance;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return false;
        }
    }
}
