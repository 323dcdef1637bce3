using System.Globalization;
using System.Text.Json;
using Pipeline.Registry;

namespace Pipeline.Journal;

/// <summary>One journal entry: its key and sequence number, and the step it holds (null when <see cref="Damage"/> says why it cannot be read).</summary>
/// <param name="Key">The registry key, <c>{prefix}/journal/{service}/{sequence}</c>.</param>
/// <param name="Sequence">The sequence number as written in the key (e.g. <c>000003</c>): what <c>--skip</c> names.</param>
/// <param name="Step">The undo step, or null when the value is not one.</param>
/// <param name="Damage">Why the value is not an undo step, or null.</param>
public sealed record JournalEntry(string Key, string Sequence, UndoStep? Step, string? Damage = null)
{
    /// <summary>"000003 remove-container (removed container hello-green-1)", or "000003 (unreadable: …)".</summary>
    public string Describe() => Step is { } step ? $"{Sequence} {step.Kind} ({step.Description})" : $"{Sequence} (unreadable: {Damage})";
}

/// <summary>Who cleared a stuck step, and which: recorded under <c>{prefix}/audit/{service}/</c> before the step goes.</summary>
/// <param name="Action">What was done (<c>skip-undo-step</c>).</param>
/// <param name="Key">The journal key that was cleared.</param>
/// <param name="Step">The step's value as it was stored.</param>
/// <param name="User">The user the clearing process ran as.</param>
/// <param name="Host">The machine it ran on.</param>
/// <param name="Pid">Its process id.</param>
/// <param name="DeployId">The clearing run's deploy id.</param>
/// <param name="At">When.</param>
public sealed record AuditEntry(string Action, string Key, string Step, string User, string Host, int Pid, string DeployId, DateTimeOffset At);

/// <summary>
/// The write-ahead log of one service's running deploy, persisted in the service registry under
/// <c>{prefix}/journal/{service}/{sequence}</c>: a stage records the undo of a change before it makes it.
/// A journal left behind by a run that died is found and unwound by the next run (or <c>--target=Rollback</c>).
/// Keys under the prefix that are not a sequence number (written by something else, or a newer Pipeline) are
/// ignored with a warning; a numbered entry that is not an undo step is read as a damaged entry.
/// </summary>
/// <param name="registry">Where the journal lives.</param>
/// <param name="prefix">Pipeline's key prefix.</param>
/// <param name="service">The service whose journal this is.</param>
/// <param name="deployId">The deploy writing to it: stamped on every step it records (null: steps are recorded as given).</param>
/// <param name="warn">Told about keys that are ignored.</param>
public sealed class DeploymentJournal(IServiceRegistry registry, string prefix, string service, string? deployId = null, Action<string>? warn = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _prefix = $"{prefix}/journal/{service}/";
    private readonly string _auditPrefix = $"{prefix}/audit/{service}/";
    private readonly SemaphoreSlim _recording = new(1, 1);
    private long? _next;

    /// <summary>The prefix of the journal's keys.</summary>
    public string KeyPrefix => _prefix;

    /// <summary>The prefix of the audit entries of this service (who cleared which stuck step).</summary>
    public string AuditPrefix => _auditPrefix;

    /// <summary>
    /// Persists an undo step (stamped with this journal's deploy id) under the next sequence number; only then may the
    /// caller make the change. The journal is read for that number once (again after a step was removed here); after
    /// that this journal counts on from the last one it wrote: a run writes its journal holding the service's deploy
    /// lock (its registry refuses the write otherwise), so no one else writes there meanwhile.
    /// </summary>
    public Task RecordAsync(UndoStep step, CancellationToken ct = default) => RecordAsync([step], ct);

    /// <summary>
    /// Persists several undo steps under consecutive sequence numbers, written at once (undone newest first, in the
    /// order given); only when all are persisted may the caller make the changes. A write that fails leaves a gap in
    /// the numbering, never a number used twice.
    /// </summary>
    public async Task RecordAsync(IReadOnlyList<UndoStep> steps, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(steps);
        await _recording.WaitAsync(ct);
        try
        {
            var first = _next ?? await NextNumberAsync(ct);
            _next = first + steps.Count;
            await Task.WhenAll(steps.Select((step, i) => registry.PutAsync($"{_prefix}{first + i:D6}", JsonSerializer.Serialize(Stamped(step), Json), null, ct)));
        }
        finally
        {
            _recording.Release();
        }
    }

    private UndoStep Stamped(UndoStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        return step.DeployId is null && deployId is not null ? step with { DeployId = deployId } : step;
    }

    private async Task<long> NextNumberAsync(CancellationToken ct)
    {
        var numbers = Numbered((await registry.GetPrefixAsync(_prefix, ct)).Keys).Select(n => n.Number).ToList();
        return numbers.Count == 0 ? 1 : numbers.Max() + 1;
    }

    /// <summary>The recorded entries in the order they were recorded (damaged ones included, foreign keys left out).</summary>
    public async Task<IReadOnlyList<JournalEntry>> ReadAsync(CancellationToken ct = default)
    {
        var entries = await registry.GetPrefixAsync(_prefix, ct);
        return Numbered(entries.Keys)
            .OrderBy(n => n.Number)
            .Select(n => Parse(n.Key, entries[n.Key]))
            .ToList();
    }

    /// <summary>Forgets one step (after it ran); the next step recorded is numbered after the highest one left.</summary>
    public Task RemoveAsync(string key, CancellationToken ct = default)
    {
        _next = null;
        return registry.DeleteAsync(key, ct);
    }

    /// <summary>Forgets every step: the deploy committed and there is nothing left to undo.</summary>
    public Task ClearAsync(CancellationToken ct = default)
    {
        _next = null;
        return registry.DeletePrefixAsync(_prefix, ct);
    }

    /// <summary>
    /// Clears a stuck step without running it, for an operator who has dealt with it by hand: first records who did it
    /// and what the step held (<see cref="AuditPrefix"/>), then removes it. <paramref name="sequenceOrKey"/> is the
    /// sequence number (<c>3</c> or <c>000003</c>) or the full key. Returns the entry that was cleared.
    /// </summary>
    /// <exception cref="ArgumentException">No entry of the journal has that sequence number or key.</exception>
    public async Task<JournalEntry> SkipAsync(string sequenceOrKey, AuditEntry who, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sequenceOrKey);
        ArgumentNullException.ThrowIfNull(who);
        var entries = await registry.GetPrefixAsync(_prefix, ct);
        var wanted = sequenceOrKey.StartsWith(_prefix, StringComparison.Ordinal) ? sequenceOrKey[_prefix.Length..] : sequenceOrKey;
        var match = Numbered(entries.Keys).FirstOrDefault(n =>
            n.Key[_prefix.Length..] == wanted
            || (long.TryParse(wanted, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && n.Number == number));
        if (match.Key is null)
        {
            var present = string.Join(", ", Numbered(entries.Keys).Select(n => n.Key[_prefix.Length..]));
            throw new ArgumentException(
                $"The journal of {service} has no step '{sequenceOrKey}' to skip; its steps are: {(present.Length == 0 ? "none" : present)}.",
                nameof(sequenceOrKey));
        }

        var value = entries[match.Key];
        var audit = who with { Key = match.Key, Step = value };
        await registry.PutAsync($"{_auditPrefix}{audit.At.UtcDateTime:yyyyMMddHHmmssfff}-{audit.DeployId}", JsonSerializer.Serialize(audit, Json), null, ct);
        _next = null;
        await registry.DeleteAsync(match.Key, ct);
        return Parse(match.Key, value);
    }

    private IEnumerable<(string Key, long Number)> Numbered(IEnumerable<string> keys)
    {
        foreach (var key in keys)
        {
            var tail = key[_prefix.Length..];
            if (tail.Length > 0 && tail.Length <= 18 && tail.All(char.IsAsciiDigit))
            {
                yield return (key, long.Parse(tail, NumberStyles.None, CultureInfo.InvariantCulture));
            }
            else
            {
                warn?.Invoke($"Ignoring {key} in the journal of {service}: not a journal step (its name is not a sequence number; written by something else or a newer Pipeline?).");
            }
        }
    }

    private JournalEntry Parse(string key, string value)
    {
        var sequence = key[_prefix.Length..];
        try
        {
            return JsonSerializer.Deserialize<UndoStep>(value, Json) is { Kind: not null, Arguments: not null, Description: not null } step
                ? new JournalEntry(key, sequence, step)
                : new JournalEntry(key, sequence, null, $"not an undo step: {value}");
        }
        catch (JsonException e)
        {
            return new JournalEntry(key, sequence, null, $"not an undo step ({e.Message}): {value}");
        }
    }
}
