using Pipeline.Docker;
using Pipeline.Registry;

namespace Pipeline.Journal;

/// <summary>What a rollback did, and the steps it could not do (those stay in the journal for a retry).</summary>
public sealed record RollbackReport(IReadOnlyList<string> Done, IReadOnlyList<string> Failed)
{
    /// <summary>True when every step ran.</summary>
    public bool Complete => Failed.Count == 0;

    /// <summary>One line for messages: "removed container x, restored the proxy config" ("nothing; FAILED to undo …" when no step could run).</summary>
    public string Summary =>
        (Done.Count > 0 ? string.Join(", ", Done) : Failed.Count == 0 ? "nothing to undo" : "nothing")
        + (Failed.Count == 0 ? "" : $"; FAILED to undo (kept in the journal, retry with --target=Rollback): {string.Join("; ", Failed)}");
}

/// <summary>
/// Runs a journal backwards. Each step is idempotent and gets its own timeout, independent of the run's
/// cancellation, so an interrupted run is still put back. A step that fails stays in the journal and the
/// remaining steps still run.
/// </summary>
public sealed class RollbackRunner(
    DeploymentJournal journal,
    IDockerEngine production,
    IServiceRegistry registry,
    Func<string?, CancellationToken, Task> restoreProxy,
    TimeSpan stepTimeout,
    Action<string> log,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Unwinds whatever the journal holds.</summary>
    public async Task<RollbackReport> RunAsync()
    {
        var done = new List<string>();
        var failed = new List<string>();
        IReadOnlyList<(string Key, UndoStep Step)> steps;
        using (var read = new CancellationTokenSource(stepTimeout, _time))
        {
            steps = await journal.ReadAsync(read.Token);
        }

        foreach (var (key, step) in steps.Reverse())
        {
            using var timeout = new CancellationTokenSource(stepTimeout, _time);
            try
            {
                await UndoAsync(step, timeout.Token);
                await journal.RemoveAsync(key, timeout.Token);
                done.Add(step.Description);
                log($"rollback: {step.Description}");
            }
            catch (Exception e)
            {
                failed.Add($"{step.Description}: {e.Message}");
                log($"rollback: could not undo ({step.Kind}): {e.Message}");
            }
        }

        return new RollbackReport(done, failed);
    }

    private async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        switch (step.Kind)
        {
            case UndoKinds.RemoveContainer:
                await production.RemoveContainerAsync(step.Required("name"), ct);
                break;
            case UndoKinds.RestoreKey:
                if (step.Arguments.GetValueOrDefault("value") is { } value)
                {
                    await registry.PutAsync(step.Required("key"), value, null, ct);
                }
                else
                {
                    await registry.DeleteAsync(step.Required("key"), ct);
                }

                break;
            case UndoKinds.RestoreProxy:
                await restoreProxy(step.Arguments.GetValueOrDefault("rerender") == "true" ? null : step.Required("config"), ct);
                break;
            case UndoKinds.RemoveVolume:
                await production.RemoveVolumeAsync(step.Required("name"), ct);
                break;
            case UndoKinds.RemoveNetwork:
                await production.RemoveNetworkAsync(step.Required("name"), ct);
                break;
            default:
                throw new InvalidOperationException($"Unknown undo kind '{step.Kind}' (written by a newer Pipeline?).");
        }
    }
}
