using System.Runtime.InteropServices;

namespace Pipeline;

/// <summary>
/// The run's cancellation: Ctrl-C and SIGTERM cancel it (the current stage stops and the rollback runs; undo steps
/// have their own timeouts), and so does <see cref="Cancel"/> (a lost deploy lock). Disposing unhooks the signals.
/// </summary>
internal sealed class RunCancellation : IDisposable
{
    private readonly CancellationTokenSource _cancellation = new();
    private readonly PosixSignalRegistration? _sigterm;
    private readonly Action<string> _warn;

    /// <summary>Hooks Ctrl-C (told to <paramref name="warn"/>) and SIGTERM.</summary>
    public RunCancellation(Action<string> warn)
    {
        _warn = warn;
        Console.CancelKeyPress += OnCancelKeyPress;
        _sigterm = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
        {
            signal.Cancel = true;
            Cancel();
        });
    }

    /// <summary>Cancelled by Ctrl-C, SIGTERM or <see cref="Cancel"/>.</summary>
    public CancellationToken Token => _cancellation.Token;

    /// <summary>Stops the run: the current stage ends with <see cref="OperationCanceledException"/> and its error handler rolls back.</summary>
    public void Cancel() => _cancellation.Cancel();

    /// <inheritdoc />
    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _sigterm?.Dispose();
        _cancellation.Dispose();
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        _warn("Cancelling: the current stage stops and the rollback runs.");
        Cancel();
    }
}
