namespace Pipeline.Reporting;

/// <summary>The values of a run's outcome (notifications, step outputs, the job summary).</summary>
public static class RunOutcomes
{
    /// <summary>The deploy is running.</summary>
    public const string Started = "started";

    /// <summary>The deploy committed: the new release is live.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>The run failed before it changed production, or after the deploy committed (the new release stays live).</summary>
    public const string Failed = "failed";

    /// <summary>The run failed and every change it made was undone.</summary>
    public const string RolledBack = "rolled-back";

    /// <summary>The run failed and its rollback did not finish: the journal keeps the rest for <c>--target=Rollback</c>.</summary>
    public const string RollbackFailed = "rollback-failed";
}

/// <summary>How a run failed, as the failing stage's handler found it.</summary>
/// <param name="Stage">The stage (task) that failed.</param>
/// <param name="Cause">What failed and why, in a sentence (e.g. <c>PostIntegrationTests failed: … exited with 1</c>).</param>
/// <param name="Outcome">One of <see cref="RunOutcomes"/>: failed, rolled-back or rollback-failed.</param>
/// <param name="Rollback">What the rollback did, in words.</param>
/// <param name="LiveColor">The colour live after the failure (null: none).</param>
public sealed record RunFailure(string Stage, string Cause, string Outcome, string Rollback, string? LiveColor);
