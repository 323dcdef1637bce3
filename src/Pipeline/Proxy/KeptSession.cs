namespace Pipeline.Proxy;

/// <summary>
/// One control session into a proxy container, kept open between calls and used by one caller at a time: opened on first
/// use, and opened again once when the one an earlier call left open has ended (the proxy reloaded or restarted).
/// </summary>
internal sealed class KeptSession<TSession>(Func<string, CancellationToken, Task<TSession>> open)
    where TSession : IAsyncDisposable, IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private (string ContainerId, TSession Session)? _open;

    /// <summary>
    /// Runs <paramref name="use"/> on the container's session within <paramref name="timeout"/>. A failure that
    /// <paramref name="ended"/> recognises (or the timeout) closes the session; then a session an earlier call left open is
    /// opened again once, while a fresh one (or any, with <paramref name="once"/>) throws what <paramref name="failure"/> makes.
    /// </summary>
    public async Task<T> UseAsync<T>(
        string containerId,
        Func<TSession, CancellationToken, Task<T>> use,
        TimeSpan timeout,
        Func<Exception, bool> ended,
        Func<Exception, Exception> failure,
        CancellationToken ct,
        bool once = false)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            while (true)
            {
                var fresh = once || _open?.ContainerId != containerId;
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                limit.CancelAfter(timeout);
                try
                {
                    return await use(await OpenCoreAsync(containerId, limit.Token).ConfigureAwait(false), limit.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (ended(e) || (e is OperationCanceledException && !ct.IsCancellationRequested))
                {
                    await CloseCoreAsync().ConfigureAwait(false);
                    if (fresh)
                    {
                        throw failure(e);
                    }
                }
                catch (OperationCanceledException)
                {
                    // Cut off mid-command: an answer may still come, and would be read as the next command's.
                    await CloseCoreAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Runs <paramref name="use"/> on the container's session and closes it after, whatever happened (for a command that ends the session).</summary>
    public async Task UseThenCloseAsync(string containerId, Func<TSession, CancellationToken, Task> use, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await use(await OpenCoreAsync(containerId, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
        finally
        {
            await CloseCoreAsync().ConfigureAwait(false);
            _lock.Release();
        }
    }

    /// <summary>Ends the session, if one is open, once no call uses it.</summary>
    public async ValueTask CloseAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            await CloseCoreAsync().ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Ends the session, if one is open, at once (when its owner is disposed and nothing may use it any more).</summary>
    public void Close()
    {
        if (_open is { } open)
        {
            _open = null;
            open.Session.Dispose();
        }
    }

    private async Task<TSession> OpenCoreAsync(string containerId, CancellationToken ct)
    {
        if (_open is { } kept && kept.ContainerId == containerId)
        {
            return kept.Session;
        }

        await CloseCoreAsync().ConfigureAwait(false);
        var session = await open(containerId, ct).ConfigureAwait(false);
        _open = (containerId, session);
        return session;
    }

    private async ValueTask CloseCoreAsync()
    {
        if (_open is { } open)
        {
            _open = null;
            await open.Session.DisposeAsync().ConfigureAwait(false);
        }
    }
}
