using System.Globalization;

namespace Pipeline.Runs;

/// <summary>
/// One run of the pipeline for a service, as its run key records it (<c>{prefix}/runs/{service}/{deployId}</c>): who runs
/// it (user, host, process and when that process started, so a reused pid is told apart) and what it deploys.
/// </summary>
/// <param name="DeployId">The run's deploy id (on every label and key it writes).</param>
/// <param name="Service">The service.</param>
/// <param name="Target">The target it runs (<c>Deploy</c>, <c>Rollback</c>, …).</param>
/// <param name="Version">The version it deploys.</param>
/// <param name="User">The user the process runs as.</param>
/// <param name="Host">The machine the process runs on.</param>
/// <param name="Pid">The process id.</param>
/// <param name="ProcessStartedAt">When that process started (UTC).</param>
/// <param name="StartedAt">When the run started.</param>
public sealed record RunRecord(
    string DeployId,
    string Service,
    string Target,
    string Version,
    string User,
    string Host,
    int Pid,
    DateTimeOffset ProcessStartedAt,
    DateTimeOffset StartedAt)
{
    /// <summary>A record of this process running <paramref name="target"/> for <paramref name="service"/>, starting now.</summary>
    public static RunRecord ForThisProcess(string deployId, string service, string target, string version, TimeProvider time)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return new(
            deployId,
            service,
            target,
            version,
            Environment.UserName,
            Environment.MachineName,
            Environment.ProcessId,
            new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero),
            time.GetUtcNow());
    }

    /// <summary>"Deploy 2.0.0 (deploy 20261201…-abc123) by root@host pid 1234".</summary>
    public override string ToString() =>
        $"{Target} {Version} (deploy {DeployId}) by {User}@{Host} pid {Pid.ToString(CultureInfo.InvariantCulture)}";
}
