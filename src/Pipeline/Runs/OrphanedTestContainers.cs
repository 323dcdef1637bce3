using Pipeline.Docker;

namespace Pipeline.Runs;

/// <summary>
/// Test containers a dead run left on the CD engine (killed while its tests ran: nothing removed them). A container is
/// removed only when its run (the <c>pipeline.deploy-id</c> label) is provably dead (<see cref="RunLiveness"/>), so a
/// live run's tests are never touched, whether or not that run holds the deploy lock.
/// </summary>
public static class OrphanedTestContainers
{
    /// <summary>Removes the test containers of <paramref name="service"/> whose run is dead; returns what it removed.</summary>
    /// <param name="engine">The CD engine (where tests run).</param>
    /// <param name="liveness">Tells dead runs from live ones.</param>
    /// <param name="service">The service.</param>
    /// <param name="ownDeployId">This run's deploy id (its own containers are never orphans).</param>
    /// <param name="ct">Cancels the listing; each removal gets the same token.</param>
    public static async Task<IReadOnlyList<string>> RemoveAsync(
        IDockerEngine engine, RunLiveness liveness, string service, string ownDeployId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(liveness);
        var tests = await engine.ListContainersAsync(
            new Dictionary<string, string> { [Labels.Service] = service, [Labels.Role] = Roles.Test }, ct).ConfigureAwait(false);
        var removed = new List<string>();
        foreach (var run in tests.GroupBy(c => c.Labels.GetValueOrDefault(Labels.DeployId) ?? "").Where(g => g.Key != ownDeployId))
        {
            if (run.Key.Length == 0)
            {
                continue; // not a pipeline run's: nothing proves its owner dead
            }

            var (dead, why) = await liveness.CheckAsync(run.Key, ct).ConfigureAwait(false);
            if (!dead)
            {
                continue;
            }

            foreach (var container in run)
            {
                await engine.RemoveContainerAsync(container.Id, ct).ConfigureAwait(false);
                removed.Add($"removed test container {container.Name} ({why})");
            }
        }

        return removed;
    }
}
