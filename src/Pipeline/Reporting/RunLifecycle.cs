using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.GitHub;
using Pipeline.History;
using Pipeline.Journal;
using Pipeline.Notifications;
using Pipeline.Runs;

namespace Pipeline.Reporting;

/// <summary>
/// What a run tells the world about itself, beside its stages: its run key while it lives (<see cref="RunLease"/>), the
/// cleanup of what dead runs left (test containers, undelivered notifications), webhook notifications, rollbacks in the
/// history, and, in GitHub Actions, log groups, annotations, the job summary and step outputs. Nothing here fails a run:
/// a problem is a warning.
/// </summary>
internal sealed class RunLifecycle
{
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(30);
    private readonly DeploymentContext _context;
    private readonly HashSet<string> _tasksSeen = new(StringComparer.OrdinalIgnoreCase);
    private RunLease? _lease;
    private Notifier? _notifier;
    private bool _masked;
    private bool _failureAnnotated;
    private bool _reportsJson;

    public RunLifecycle(DeploymentContext context, GitHubActions? github)
    {
        _context = context;
        GitHub = github;
    }

    /// <summary>The GitHub Actions runner, when the run is in one.</summary>
    public GitHubActions? GitHub { get; }

    /// <summary>The target the run started (<c>Deploy</c> or <c>Rollback</c>), once it started.</summary>
    public string? Target { get; private set; }

    private ICakeLog Log => _context.Log;

    /// <summary>Tells dead runs of the service from live ones.</summary>
    public RunLiveness Liveness => new(_context.RegistryClient, _context.Options.KeyPrefix, _context.Service);

    /// <summary>
    /// The run begins changing things (the first stage of a deploy, or a rollback): writes its run key, removes test
    /// containers of dead runs, takes over the notifications they left undelivered, and (<paramref name="announce"/>)
    /// posts <see cref="NotificationEvents.Started"/>. Runs once.
    /// </summary>
    public async Task StartAsync(string target, bool announce, CancellationToken ct)
    {
        if (Target is not null)
        {
            return;
        }

        Target = target;
        var options = _context.Options;
        _lease = await RunLease.StartAsync(
            _context.RegistryClient,
            options.KeyPrefix,
            RunRecord.ForThisProcess(_context.DeployId, _context.Service, target, _context.Version, _context.Time),
            options.LockTtl,
            _context.Time,
            ct);
        await RemoveOrphanedTestContainersAsync(ct);

        if (options.Notify.Count > 0)
        {
            _notifier = new Notifier(
                options.Notify.Select(u => WebhookTarget.Parse(u.OriginalString)).ToList(),
                new NotificationOutbox(_context.RegistryClient, options.KeyPrefix, _context.Service),
                Liveness,
                _context.DeployId,
                _context.Time,
                line => Log.Information(line),
                Warn);
            try
            {
                await _notifier.ResumeAsync(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                Warn($"notify: could not read the outbox for notifications dead runs left ({e.Message}); the next run tries again.");
            }

            if (announce)
            {
                await PublishAsync(NotificationEvents.Started, null);
            }
        }
    }

    /// <summary>Removes test containers whose run is provably dead (see <see cref="OrphanedTestContainers"/>); never throws.</summary>
    public async Task<IReadOnlyList<string>> RemoveOrphanedTestContainersAsync(CancellationToken ct)
    {
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(CleanupTimeout);
            var removed = await OrphanedTestContainers.RemoveAsync(_context.CdEngine, Liveness, _context.Service, _context.DeployId, limit.Token);
            foreach (var line in removed)
            {
                Log.Information($"Cleanup: {line}.");
            }

            return removed;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Warn($"Cleanup: could not remove the test containers of dead runs of {_context.Service} ({e.Message}); the next run tries again.");
            return [];
        }
    }

    /// <summary>A stage failed (its handler has rolled back or found nothing to undo): history and notification. Never throws.</summary>
    public async Task FailedAsync(RunFailure failure)
    {
        if (failure.LiveColor is null)
        {
            try
            {
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5), _context.Time);
                failure = failure with { LiveColor = await _context.Catalog.GetLiveColorAsync(_context.Service, limit.Token) };
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Unknown: reported as none.
            }
        }

        _context.State.Failure = failure;
        if (failure.Outcome is RunOutcomes.RolledBack or RunOutcomes.RollbackFailed)
        {
            await RecordAsync(new HistoryRecord(
                HistoryKinds.Rollback,
                _context.DeployId,
                _context.Version,
                _context.State.NewColor,
                _context.State.PreviousColor,
                failure.Outcome == RunOutcomes.RolledBack ? HistoryOutcomes.RolledBack : HistoryOutcomes.RollbackFailed,
                failure.Stage,
                _context.State.StartedAt,
                _context.Time.GetUtcNow(),
                StageSeconds(),
                $"{failure.Cause}\nRolled back: {failure.Rollback}."));
        }

        await PublishAsync(failure.Outcome == RunOutcomes.RollbackFailed ? NotificationEvents.RollbackFailed : NotificationEvents.Failed, failure);
    }

    /// <summary>The deploy committed and retired the old colour: notification. Never throws.</summary>
    public Task SucceededAsync() => PublishAsync(NotificationEvents.Succeeded, null);

    /// <summary>
    /// A dead run's journal was unwound (by AcquireLock or <c>--target=Rollback</c>, holding the lock): history (naming the
    /// dead run when its run key says who it was), a notification when the unwind is incomplete, and the dead runs' keys
    /// forgotten. Never throws.
    /// </summary>
    public async Task RecoveredAsync(RollbackReport report)
    {
        try
        {
            using var limit = new CancellationTokenSource(CleanupTimeout, _context.Time);
            var liveness = Liveness;
            var dead = await liveness.FindDeadRunsAsync(_context.DeployId, limit.Token);
            var victim = dead.LastOrDefault(r => r.Target.Equals("Deploy", StringComparison.OrdinalIgnoreCase)) ?? dead.LastOrDefault();
            if (report.Done.Count + report.Failed.Count > 0)
            {
                var now = _context.Time.GetUtcNow();
                await RecordAsync(new HistoryRecord(
                    HistoryKinds.Rollback,
                    victim?.DeployId ?? _context.DeployId,
                    victim?.Version,
                    null,
                    await _context.Catalog.GetLiveColorAsync(_context.Service, limit.Token),
                    report.Complete ? HistoryOutcomes.Recovered : HistoryOutcomes.RollbackFailed,
                    null,
                    victim?.StartedAt ?? now,
                    now,
                    new Dictionary<string, double>(),
                    $"{(victim is null ? "A run that died mid-deploy" : victim.ToString())} was unwound by {Target ?? "the next run"} (deploy {_context.DeployId}): {report.Summary}."));
            }

            if (report.Complete)
            {
                foreach (var run in dead)
                {
                    await liveness.ForgetAsync(run.DeployId, limit.Token);
                }
            }
            else
            {
                await PublishAsync(NotificationEvents.RollbackFailed, new RunFailure(
                    Target ?? "Rollback",
                    $"The journal of a run of {_context.Service} that died mid-deploy could not be fully unwound.",
                    RunOutcomes.RollbackFailed,
                    report.Summary,
                    null));
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Warn($"History: could not record the recovery of {_context.Service} ({e.Message}).");
        }
    }

    /// <summary>The end of the run: waits (up to <c>--notify-timeout</c>) for notifications in flight, then ends the run key.</summary>
    public async Task EndAsync()
    {
        if (_notifier is not null)
        {
            await _notifier.DrainAsync(_context.Options.NotifyTimeout);
            await _notifier.DisposeAsync();
        }

        if (_lease is not null)
        {
            await _lease.DisposeAsync();
        }
    }

    // ------------------------------------------------------------------ GitHub Actions (called by the host, synchronously)

    /// <summary>A task starts: its log goes in a group (not for JSON reports, whose standard output is the JSON).</summary>
    public void TaskStarting(string task)
    {
        _tasksSeen.Add(task);
        if (GitHub is null)
        {
            return;
        }

        MaskSecrets();
        _reportsJson = _context.Arguments.HasArgument("format") && _context.Arguments.GetArgument("format") == "json";
        if (!_reportsJson)
        {
            GitHub.StartGroup(task);
        }
    }

    /// <summary>A task ended: the group closes; a failure becomes the run's one error annotation.</summary>
    public void TaskEnded(string task, bool successful, Exception? exception)
    {
        if (GitHub is null)
        {
            return;
        }

        GitHub.EndGroup();
        if (successful || _failureAnnotated)
        {
            return;
        }

        _failureAnnotated = true;
        var failure = _context.State.Failure;
        var message = failure is not null
            ? $"{failure.Cause}\nRolled back: {failure.Rollback}."
            : Innermost(exception)?.Message ?? "failed";
        GitHub.Error($"{failure?.Stage ?? task}: {ServiceOrNull() ?? "pipeline"}{(VersionOrNull() is { } v ? $" {v}" : "")}", message);
    }

    /// <summary>The run ended: the job summary and the step outputs, for a deploy or a rollback.</summary>
    public void RunEnded(bool successful)
    {
        if (GitHub is null || _reportsJson || !(_tasksSeen.Contains("Preflight") || _tasksSeen.Contains("Rollback") || Target is not null))
        {
            return;
        }

        GitHub.EndGroup();
        var state = _context.State;
        var failure = state.Failure;
        var outcome = successful ? RunOutcomes.Succeeded : failure?.Outcome ?? RunOutcomes.Failed;
        var service = ServiceOrNull() ?? "(invalid options)";
        var live = successful ? state.NewColor : failure?.LiveColor ?? state.PreviousColor;
        var url = UrlOrNull();
        var facts = new JobSummaryFacts(
            Target ?? (_tasksSeen.Contains("Rollback") ? "Rollback" : "Deploy"),
            service,
            VersionOrNull(),
            outcome,
            state.PreviousColor,
            state.NewColor,
            live,
            _context.DeployId,
            url,
            state.StartedAt == default ? TimeSpan.Zero : _context.Time.GetUtcNow() - state.StartedAt,
            state.StageDurations,
            failure,
            RetryCommandFor(failure),
            GitHub.Overflow);
        if (GitHub.AppendSummary(JobSummary.Render(facts)) is { } summaryProblem)
        {
            Warn($"GitHub Actions: {summaryProblem}; the deploy's outcome is unchanged.");
        }

        if (GitHub.SetOutputs([("color", live ?? ""), ("version", VersionOrNull() ?? ""), ("url", url ?? ""), ("outcome", outcome)]) is { } outputProblem)
        {
            Warn($"GitHub Actions: {outputProblem}; the deploy's outcome is unchanged.");
        }
    }

    /// <summary>A warning in the log, and in GitHub Actions a warning annotation.</summary>
    public void Warn(string message)
    {
        Log.Warning(message);
        GitHub?.Warning(ServiceOrNull() ?? "pipeline", message);
    }

    /// <summary>The retry command for a failure: the rollback after a failed rollback, else the deploy again.</summary>
    public string RetryCommandFor(RunFailure? failure)
    {
        var arguments = _context.Arguments.GetArguments();
        var launcher = RetryCommand.Launcher(System.Environment.GetEnvironmentVariable);
        return failure?.Outcome == RunOutcomes.RollbackFailed
            ? RetryCommand.Format(launcher, "Rollback", null, arguments)
            : RetryCommand.Format(launcher, "Deploy", VersionOrNull(), arguments);
    }

    private async Task PublishAsync(string @event, RunFailure? failure)
    {
        if (_notifier is null)
        {
            return;
        }

        try
        {
            await _notifier.PublishAsync(NotificationFor(@event, failure));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Warn($"notify: could not queue {@event} ({e.Message}).");
        }
    }

    private Notification NotificationFor(string @event, RunFailure? failure)
    {
        var state = _context.State;
        var service = _context.Service;
        var version = _context.Version;
        var duration = state.StartedAt == default ? 0 : Math.Round((_context.Time.GetUtcNow() - state.StartedAt).TotalSeconds, 1);
        var retry = RetryCommandFor(failure);
        var (outcome, live, text) = @event switch
        {
            NotificationEvents.Started => (RunOutcomes.Started, state.PreviousColor,
                $"Deploying {service} {version} (deploy {_context.DeployId})."),
            NotificationEvents.Succeeded => (RunOutcomes.Succeeded, state.NewColor,
                $"{service} {version} is live as {state.NewColor} (was {state.PreviousColor ?? "none"}), deployed in {duration:0.0} s."),
            NotificationEvents.RollbackFailed => (RunOutcomes.RollbackFailed, failure?.LiveColor,
                $"{service} {version} failed in {failure?.Stage} and its rollback did not finish: {failure?.Rollback}. {Why(failure)} Finish it with `{retry}`"),
            _ when failure?.Outcome == RunOutcomes.RolledBack => (RunOutcomes.RolledBack, failure.LiveColor,
                $"{service} {version} failed in {failure.Stage} and was rolled back; {failure.LiveColor ?? "nothing"} is live. {Why(failure)} Retry: `{retry}`"),
            _ => (failure?.Outcome ?? RunOutcomes.Failed, failure?.LiveColor,
                $"{service} {version} failed in {failure?.Stage}; rolled back: {failure?.Rollback}. {Why(failure)} Retry: `{retry}`"),
        };
        return new Notification(
            $"{_context.DeployId}/{@event}",
            @event,
            _context.DeployId,
            service,
            version,
            state.NewColor,
            state.PreviousColor,
            live,
            failure?.Stage,
            outcome,
            duration,
            failure?.Cause,
            failure?.Rollback,
            retry,
            text,
            _context.Time.GetUtcNow());
    }

    /// <summary>The cause's first line, without the stage's name in front (the text names the stage already).</summary>
    private static string Why(RunFailure? failure)
    {
        var cause = failure?.Cause ?? "";
        var prefix = $"{failure?.Stage} failed: ";
        var line = (cause.StartsWith(prefix, StringComparison.Ordinal) ? cause[prefix.Length..] : cause).Split('\n')[0].TrimEnd(':', ' ', '.');
        return line.Length == 0 ? "" : char.ToUpperInvariant(line[0]) + line[1..] + ".";
    }

    private async Task RecordAsync(HistoryRecord record)
    {
        try
        {
            using var limit = new CancellationTokenSource(CleanupTimeout, _context.Time);
            await new ServiceHistory(_context.Catalog).RecordAsync(_context.Service, record, limit.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Warn($"History: could not record the {record.Kind} of {_context.Service} ({e.Message}).");
        }
    }

    private Dictionary<string, double> StageSeconds() =>
        _context.State.StageDurations.ToDictionary(s => s.Stage, s => Math.Round(s.Duration.TotalSeconds, 3));

    private void MaskSecrets()
    {
        if (_masked || GitHub is null)
        {
            return;
        }

        _masked = true;
        try
        {
            foreach (var secret in _context.Secrets())
            {
                GitHub.Mask(secret);
            }
        }
        catch (Configuration.InvalidOptionsException)
        {
            // Invalid options never print a secret (their messages show *** instead); Preflight reports them.
        }
    }

    private string? ServiceOrNull() => Try(() => _context.Service);

    private string? VersionOrNull() => Try(() => _context.Version);

    private string? UrlOrNull() => Try(() =>
    {
        var proxy = _context.Proxy.PublicUrl;
        var host = _context.Options.HostName is { } name ? new UriBuilder(proxy) { Host = name }.Uri : proxy;
        return new Uri(host, _context.Options.Route).ToString();
    });

    private static string? Try(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is Configuration.InvalidOptionsException or InvalidOperationException)
        {
            return null;
        }
    }

    private static Exception? Innermost(Exception? e)
    {
        while (e is CakeException { InnerException: not null } or AggregateException { InnerException: not null })
        {
            e = e.InnerException;
        }

        return e;
    }
}
