using Pipeline.Proxy;

namespace Pipeline.Tasks;

/// <summary>
/// Watches the old colour drain in the proxy beside the post-integration tests: since the switch no new request goes to
/// it, so what is in flight to it can only end, and RetireOldRelease then waits only for what is left. Stopped (and
/// awaited) by a stage's failure handler before the deploy is committed, since the rollback gives the old colour its
/// traffic back.
/// </summary>
internal sealed class DrainWatch
{
    private readonly CancellationTokenSource _stop;

    private DrainWatch(string color, Task<DrainResult> result, CancellationTokenSource stop)
    {
        Color = color;
        Result = result;
        _stop = stop;
    }

    /// <summary>The colour being drained.</summary>
    public string Color { get; }

    /// <summary>How the drain ended; faults with a <see cref="ProxyException"/> or <see cref="Docker.DockerEngineException"/> when the proxy could not be asked.</summary>
    public Task<DrainResult> Result { get; }

    /// <summary>Starts watching the old colour of this run's service, or returns null when there is none (a first deploy).</summary>
    public static DrainWatch? Start(DeploymentContext context, CancellationToken ct)
    {
        if (context.State.PreviousColor is not { } color || color == context.State.NewColor)
        {
            return null;
        }

        var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var result = Task.Run(() => ProxyDrain.WaitAsync(context.Proxy, context.Service, color, context.Options.DrainTimeout, context.Time, stop.Token), stop.Token);
        return new DrainWatch(color, result, stop);
    }

    /// <summary>Waits for the drain to end (it ends by itself within the drain timeout).</summary>
    public async Task<DrainResult> EndAsync()
    {
        try
        {
            return await Result.ConfigureAwait(false);
        }
        finally
        {
            _stop.Dispose();
        }
    }

    /// <summary>Stops watching and waits until the watch has stopped; nothing to do when it has already ended.</summary>
    public async Task StopAsync()
    {
        if (Result.IsCompleted)
        {
            _stop.Dispose();
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await Result.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        _stop.Dispose();
    }
}
