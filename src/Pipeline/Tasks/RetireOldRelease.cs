using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Proxy;
using Pipeline.Registry;

namespace Pipeline.Tasks;

/// <summary>
/// The commit point. Appends a history entry and clears the journal (from here on the new release stays), then
/// waits until the proxy has no request in flight to the old colour (or <c>--drain-timeout</c> has passed; the log
/// says which), then, at once, removes every other release of the service through the release runtime (the old colour
/// and any left by crashed runs, found by label: containers or swarm services, and their volumes) and deregisters the
/// old colour (and makes the proxy's config say so, at runtime); then releases the deploy lock.
/// </summary>
[TaskName("RetireOldRelease")]
[TaskDescription("Commits the deploy (history, journal cleared), drains the old colour in the proxy, removes and deregisters the old colour's release, releases the lock.")]
[IsDependentOn(typeof(PostIntegrationTests))]
public sealed class RetireOldRelease : DeploymentStage
{
    /// <summary>How long an old release may take to stop before it is killed.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var state = context.State;
        await CommitAsync(context, ct);

        // Committed: from here a failure must not roll back, and the message must say the new release is live.
        try
        {
            if ((state.OldColorDrain ?? DrainWatch.Start(context, ct)) is { } drain)
            {
                await LogDrainAsync(context, drain);
            }

            // Nothing is routed to the old colour any more: its releases stop while the registry and the proxy forget it.
            await Task.WhenAll(RemoveOtherReleasesAsync(context, ct), DeregisterOldColorAsync(context, ct));
        }
        catch (Exception e)
        {
            throw new OldReleaseNotRetiredException(
                $"{context.Service} {context.Version} is live as {state.NewColor} (the deploy is committed; nothing is rolled back), but retiring the old release failed: {e.Message} The next deploy of {context.Service} removes what is left of it.",
                e);
        }

        await context.DeployLock.ReleaseAsync();
    }

    /// <summary>Appends the history entry and clears the journal: from here on the new release stays.</summary>
    private static async Task CommitAsync(DeploymentContext context, CancellationToken ct)
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
    }

    /// <summary>Removes every release of the service but this run's: the old colour, and any left by crashed runs.</summary>
    private static async Task RemoveOtherReleasesAsync(DeploymentContext context, CancellationToken ct)
    {
        foreach (var old in (await context.Runtime.ListAsync(context.Service, ct)).Where(r => r.Id.DeployId != context.DeployId))
        {
            await context.Runtime.RemoveAsync(old.Id, StopTimeout, ct);
            context.Log.Information($"Removed {string.Join(", ", old.Names)} ({old.Id.Color}, {old.Version ?? "unknown version"}).");
        }
    }

    /// <summary>Deletes the old colour's release key; the proxy, which still lists it beside the live one, then says what the registry says.</summary>
    private static async Task DeregisterOldColorAsync(DeploymentContext context, CancellationToken ct)
    {
        if (context.State.PreviousColor is { } previous && previous != context.State.NewColor)
        {
            await context.ServiceRegistry.DeleteAsync(context.Catalog.ReleaseKey(context.Service, previous), ct);
            await context.ProxySwitch.SyncWithRegistryAsync(ct);
        }
    }

    /// <summary>Waits until the proxy has no request in flight to the old colour, or the drain timeout; logs which.</summary>
    private static async Task LogDrainAsync(DeploymentContext context, DrainWatch drain)
    {
        var proxy = context.Proxy;
        var color = drain.Color;
        DrainResult result;
        try
        {
            result = await drain.EndAsync();
        }
        catch (Exception e) when (e is ProxyException or Docker.DockerEngineException)
        {
            context.Log.Warning($"Could not ask {proxy.Kind} which requests are in flight to {color} ({e.Message}); removing it without draining.");
            return;
        }

        context.Log.Information(result.Drained
            ? $"{proxy.Kind} has no request in flight to {color} ({context.Service}) any more: drained in {result.Waited.TotalMilliseconds:0} ms (watched from the start of the post-integration tests)."
            : $"{proxy.Kind} still had {result.InFlight} request(s) in flight to {color} ({context.Service}) when --drain-timeout={context.Options.DrainTimeout.TotalSeconds:0.#} s passed; removing it anyway.");
    }
}

/// <summary>The deploy committed (the new release is live), but the old release could not be stopped, removed or deregistered.</summary>
public sealed class OldReleaseNotRetiredException(string message, Exception inner) : Exception(message, inner);
