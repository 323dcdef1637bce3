using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Registry;

namespace Pipeline.Tasks;

/// <summary>
/// The commit point. Appends a history entry and clears the journal (from here on the new release stays),
/// then removes every other release of the service through the release runtime (the old colour and any left by
/// crashed runs, found by label: containers or swarm services, and their volumes), deregisters the old colour and
/// releases the deploy lock.
/// </summary>
[TaskName("RetireOldRelease")]
[TaskDescription("Commits the deploy (history, journal cleared), removes and deregisters the old colour's release, releases the lock.")]
[IsDependentOn(typeof(PostIntegrationTests))]
public sealed class RetireOldRelease : DeploymentStage
{
    /// <summary>How long an old release may take to stop before it is killed.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var state = context.State;
        await context.Catalog.AppendHistoryAsync(
            context.Service,
            new HistoryEntry(
                context.DeployId,
                context.Version,
                state.NewColor!,
                state.PreviousColor,
                state.StartedAt,
                context.Time.GetUtcNow(),
                state.StageDurations.ToDictionary(s => s.Stage, s => Math.Round(s.Duration.TotalSeconds, 3))),
            ct);
        await context.Journal.ClearAsync(ct);
        state.Committed = true;

        // Committed: from here a failure must not roll back, and the message must say the new release is live.
        try
        {
            foreach (var old in (await context.Runtime.ListAsync(context.Service, ct)).Where(r => r.Id.DeployId != context.DeployId))
            {
                await context.Runtime.RemoveAsync(old.Id, StopTimeout, ct);
                context.Log.Information($"Removed {string.Join(", ", old.Names)} ({old.Id.Color}, {old.Version ?? "unknown version"}).");
            }

            if (state.PreviousColor is { } previous && previous != state.NewColor)
            {
                await context.ServiceRegistry.DeleteAsync(context.Catalog.ReleaseKey(context.Service, previous), ct);
            }
        }
        catch (Exception e)
        {
            throw new OldReleaseNotRetiredException(
                $"{context.Service} {context.Version} is live as {state.NewColor} (the deploy is committed; nothing is rolled back), but retiring the old release failed: {e.Message} The next deploy of {context.Service} removes what is left of it.",
                e);
        }

        await context.DeployLock.ReleaseAsync();
    }
}

/// <summary>The deploy committed (the new release is live), but the old release could not be stopped, removed or deregistered.</summary>
public sealed class OldReleaseNotRetiredException(string message, Exception inner) : Exception(message, inner);
