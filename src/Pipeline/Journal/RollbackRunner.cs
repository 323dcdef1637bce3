using Pipeline.Locking;

namespace Pipeline.Journal;

/// <summary>
/// What a rollback did, the steps it could not do or would not do (those stay in the journal), and what is still in
/// place because the unwind stopped.
/// </summary>
/// <param name="Done">What was undone (or kept because others use it), in order.</param>
/// <param name="Failed">Steps that failed ("what: why"); they stay in the journal for a retry.</param>
/// <param name="Refused">
/// Steps that must not run ("sequence kind (description): why"): they name something Pipeline did not create for the
/// service, are damaged, or of a kind this Pipeline does not know. They stay in the journal for a person.
/// </param>
/// <param name="StillInPlace">What the steps after the one that stopped the unwind would have undone.</param>
/// <param name="StoppedBecause">Why the unwind stopped before the end, or null.</param>
public sealed record RollbackReport(
    IReadOnlyList<string> Done,
    IReadOnlyList<string> Failed,
    IReadOnlyList<string>? Refused = null,
    IReadOnlyList<string>? StillInPlace = null,
    string? StoppedBecause = null)
{
    /// <summary>Steps that must not run; see the constructor.</summary>
    public IReadOnlyList<string> Refused { get; init; } = Refused ?? [];

    /// <summary>What is still in place because the unwind stopped.</summary>
    public IReadOnlyList<string> StillInPlace { get; init; } = StillInPlace ?? [];

    /// <summary>True when every step ran.</summary>
    public bool Complete => Failed.Count == 0 && Refused.Count == 0 && StoppedBecause is null;

    /// <summary>
    /// One line for messages: "removed container x, restored the proxy config" ("nothing" when no step could run), then
    /// what failed, what was refused, where the unwind stopped and what that left in place.
    /// </summary>
    public string Summary =>
        (Done.Count > 0 ? string.Join(", ", Done) : Complete ? "nothing to undo" : "nothing")
        + (Failed.Count == 0 ? "" : $"; FAILED to undo (kept in the journal, retry with --target=Rollback): {string.Join("; ", Failed)}")
        + (Refused.Count == 0 ? "" : $"; REFUSED (left in the journal for a person; once dealt with, clear it with --target=Rollback --skip=SEQUENCE): {string.Join("; ", Refused)}")
        + (StoppedBecause is null ? "" : $"; the unwind stopped there ({StoppedBecause}), so these are still in place: {(StillInPlace.Count == 0 ? "nothing else" : string.Join(", ", StillInPlace))}");
}

/// <summary>
/// Runs a journal backwards. Each step is checked and run by the <see cref="UndoAction"/> of its kind, is idempotent and
/// gets its own timeout, independent of the run's cancellation, so an interrupted run is still put back. A step that fails
/// stays in the journal; the unwind goes on past a failed removal, but stops at a step the older ones depend on (a registry
/// key, the proxy config), at a step that would take live traffic down, at a step it does not know or cannot read, and
/// when this run no longer holds the deploy lock. A refused step (one that names something Pipeline did not create for the
/// service) is never run and stays in the journal for a person.
/// </summary>
/// <param name="journal">The journal to unwind.</param>
/// <param name="scope">What the undo steps may act on.</param>
/// <param name="stepTimeout">How long each step (and reading the journal) may take.</param>
/// <param name="log">Where each step's outcome is told.</param>
/// <param name="time">The clock of the timeouts.</param>
/// <param name="lockLost">Why this run no longer holds its deploy lock, or null while it does: checked before each step.</param>
/// <param name="actions">The action of each kind; <see cref="UndoActions.Default"/> when null.</param>
public sealed class RollbackRunner(
    DeploymentJournal journal,
    RollbackScope scope,
    TimeSpan stepTimeout,
    Action<string> log,
    TimeProvider? time = null,
    Func<string?>? lockLost = null,
    IReadOnlyDictionary<string, UndoAction>? actions = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly IReadOnlyDictionary<string, UndoAction> _actions = actions ?? UndoActions.Default;

    /// <summary>Unwinds whatever the journal holds.</summary>
    public async Task<RollbackReport> RunAsync()
    {
        var done = new List<string>();
        var failed = new List<string>();
        var refused = new List<string>();
        IReadOnlyList<JournalEntry> entries;
        using (var read = new CancellationTokenSource(stepTimeout, _time))
        {
            entries = await journal.ReadAsync(read.Token);
        }

        var newestFirst = entries.Reverse().ToList();
        for (var i = 0; i < newestFirst.Count; i++)
        {
            if (lockLost?.Invoke() is { } lost)
            {
                return Stop(i, $"this run no longer holds the deploy lock: {lost}");
            }

            if (await RunStepAsync(newestFirst[i], done, failed, refused) is { } why)
            {
                return Stop(i + 1, why);
            }
        }

        return new RollbackReport(done, failed, refused);

        RollbackReport Stop(int first, string why)
        {
            log($"rollback: stopped: {why}");
            return new RollbackReport(done, failed, refused, newestFirst.Skip(first).Select(StillInPlace).ToList(), why);
        }
    }

    /// <summary>Runs one entry; returns why the unwind must stop after it, or null to go on.</summary>
    private async Task<string?> RunStepAsync(JournalEntry entry, List<string> done, List<string> failed, List<string> refused)
    {
        if (entry.Step is not { } step)
        {
            Refuse(entry, refused, $"it cannot be read ({entry.Damage})");
            return $"{entry.Sequence} cannot be read, so what the older steps depend on is unknown";
        }

        if (!_actions.TryGetValue(step.Kind, out var action))
        {
            Refuse(entry, refused, $"this Pipeline does not know the kind '{step.Kind}' (written by a newer Pipeline?)");
            return $"{entry.Sequence} is of an unknown kind, so what the older steps depend on is unknown";
        }

        using var timeout = new CancellationTokenSource(stepTimeout, _time);
        try
        {
            var outcome = await action.RunAsync(step, scope, timeout.Token);
            await journal.RemoveAsync(entry.Key, timeout.Token);
            done.Add(outcome.Report);
            log($"rollback: {outcome.Report}");
            return null;
        }
        catch (UndoRefusedException e)
        {
            Refuse(entry, refused, e.Message);
            return action.OlderStepsDependOnIt ? $"{entry.Sequence} {step.Kind} was refused and the older steps depend on it" : null;
        }
        catch (DeploymentLockLostException e)
        {
            failed.Add($"{step.Description}: {e.Message}");
            log($"rollback: could not undo ({step.Kind}): {e.Message}");
            return $"this run no longer holds the deploy lock: {e.Message}";
        }
        catch (Exception e)
        {
            failed.Add($"{step.Description}: {e.Message}");
            log($"rollback: could not undo ({step.Kind}): {e.Message}");
            return e is UndoBlockedException ? $"{step.Kind} would take live traffic down"
                : action.OlderStepsDependOnIt ? $"{step.Kind} failed and the older steps depend on it"
                : null;
        }
    }

    private void Refuse(JournalEntry entry, List<string> refused, string why)
    {
        refused.Add($"{entry.Describe()}: {why}");
        log($"rollback: REFUSED {entry.Describe()}: {why}. It stays in the journal; once dealt with by hand, clear it with --target=Rollback --skip={entry.Sequence}.");
    }

    private string StillInPlace(JournalEntry entry) =>
        entry.Step is { } step && _actions.TryGetValue(step.Kind, out var action) ? action.StillInPlace(step) : entry.Describe();
}
