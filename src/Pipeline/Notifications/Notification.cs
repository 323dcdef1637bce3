namespace Pipeline.Notifications;

/// <summary>The events a deploy posts (<see cref="Notification.Event"/>), in the order a deploy posts them.</summary>
public static class NotificationEvents
{
    /// <summary>The deploy passed Preflight and started its first stage.</summary>
    public const string Started = "deploy.started";

    /// <summary>The deploy committed: the new release is live.</summary>
    public const string Succeeded = "deploy.succeeded";

    /// <summary>The deploy failed; what it had changed was rolled back (or nothing had changed yet).</summary>
    public const string Failed = "deploy.failed";

    /// <summary>The deploy failed and its rollback did not finish: undo steps wait in the journal for <c>--target=Rollback</c>.</summary>
    public const string RollbackFailed = "deploy.rollback-failed";

    /// <summary>Where an event goes in a deploy's order (the outbox delivers a run's events in this order).</summary>
    internal static int Order(string @event) => @event == Started ? 1 : 2;
}

/// <summary>
/// What a webhook receives (JSON, camelCase), once per event and deploy. <see cref="Id"/> (<c>{deployId}/{event}</c>, also
/// sent as the <c>Idempotency-Key</c> header) is the same on every retry, so a receiver can drop a repeat.
/// <see cref="Text"/> makes the payload a valid Slack (and Mattermost, Rocket.Chat) incoming-webhook message.
/// </summary>
/// <param name="Id"><c>{deployId}/{event}</c>.</param>
/// <param name="Event">One of <see cref="NotificationEvents"/>.</param>
/// <param name="DeployId">The deploy's id.</param>
/// <param name="Service">The service.</param>
/// <param name="Version">The version being deployed.</param>
/// <param name="Color">The colour being deployed; null before it is chosen.</param>
/// <param name="PreviousColor">The colour live before the deploy; null on a first deploy or before it was read.</param>
/// <param name="LiveColor">The colour live once the event happened (after a rollback: the previous one).</param>
/// <param name="Stage">The stage that failed (failures), or null.</param>
/// <param name="Outcome"><c>started</c>, <c>succeeded</c>, <c>failed</c>, <c>rolled-back</c> or <c>rollback-failed</c>.</param>
/// <param name="DurationSeconds">Seconds since the deploy started.</param>
/// <param name="Cause">Why it failed, or null.</param>
/// <param name="Rollback">What the rollback did (failures), or null.</param>
/// <param name="RetryCommand">The command that runs this deploy again (or, after a failed rollback, the rollback).</param>
/// <param name="Text">One human sentence or two (Slack's <c>text</c>).</param>
/// <param name="At">When the event happened.</param>
public sealed record Notification(
    string Id,
    string Event,
    string DeployId,
    string Service,
    string Version,
    string? Color,
    string? PreviousColor,
    string? LiveColor,
    string? Stage,
    string Outcome,
    double DurationSeconds,
    string? Cause,
    string? Rollback,
    string RetryCommand,
    string Text,
    DateTimeOffset At);
