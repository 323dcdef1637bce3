using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Testing;

/// <summary>
/// Runs a service's test image as a container: passes the contract variables, streams its output line by line
/// (prefixed with <c>[test type] </c>), and removes the container afterwards whatever happened (pass, fail,
/// timeout, cancellation, engine error). Exit code 0 passes; anything else throws <see cref="TestsFailedException"/>.
/// </summary>
/// <param name="engine">The engine that runs the tests (the CD engine).</param>
/// <param name="time">Clock for <see cref="TestRun.Timeout"/>; the system clock when null.</param>
/// <param name="removeBeside">
/// When given, the removal of a container whose tests passed is handed to it instead of awaited, so the caller goes on
/// while the engine tears the container down (and waits for the removal before it ends). A failed run's container is
/// always removed before the failure is reported.
/// </param>
public sealed partial class TestContainerRunner(IDockerEngine engine, TimeProvider? time = null, Action<Task>? removeBeside = null)
{
    /// <summary>How many output lines a failure message keeps.</summary>
    public const int TailLines = 20;

    /// <summary>The contract variables a test container always gets.</summary>
    public static IReadOnlyList<string> ContractVariables { get; } = ["TEST_TYPE", "TARGET_URL", "SERVICE_NAME", "SERVICE_VERSION", "SERVICE_COLOR"];

    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(30);
    private readonly IDockerEngine _engine = engine ?? throw new ArgumentNullException(nameof(engine));
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Runs the tests; returns when they passed.</summary>
    /// <param name="run">What to run.</param>
    /// <param name="onOutput">Receives each output line, prefixed like <c>[pre-integration] </c>.</param>
    /// <param name="ct">Cancels the run; the container is removed all the same.</param>
    /// <exception cref="TestsFailedException">The tests exited non-zero or ran out of time.</exception>
    /// <exception cref="DockerEngineException">The engine could not create or run the container.</exception>
    /// <exception cref="ArgumentException">The run redefines a contract variable.</exception>
    public async Task<TestRunResult> RunAsync(TestRun run, Action<string>? onOutput = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        var spec = CreateSpec(run);
        var prefix = $"[{run.Type.ToContractName()}] ";
        var tail = new Queue<string>();
        var lines = 0;

        var secrets = run.Secrets.Where(s => s.Length > 0).OrderByDescending(s => s.Length).ToList();
        void OnLine(string output)
        {
            var line = secrets.Aggregate(output, (text, secret) => text.Replace(secret, "***", StringComparison.Ordinal));
            lock (tail)
            {
                lines++;
                tail.Enqueue(line);
                if (tail.Count > TailLines)
                {
                    tail.Dequeue();
                }
            }

            onOutput?.Invoke(prefix + line);
        }

        string? id = null;
        var passed = false;
        try
        {
            id = await _engine.CreateContainerAsync(spec, ct).ConfigureAwait(false);
            using var timeout = new CancellationTokenSource(run.Timeout ?? System.Threading.Timeout.InfiniteTimeSpan, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            var started = _time.GetTimestamp();
            long exitCode;
            Task? logs = null;
            try
            {
                await _engine.StartContainerAsync(id, linked.Token).ConfigureAwait(false);
                logs = _engine.StreamLogsAsync(id, OnLine, linked.Token);
                exitCode = await _engine.WaitContainerAsync(id, linked.Token).ConfigureAwait(false);
                await logs.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new TestsFailedException(run, null, Snapshot());
            }
            finally
            {
                // Observe a log stream that failed along with the wait, so it is not reported as unobserved.
                if (logs is { IsCompleted: false })
                {
                    linked.Cancel();
                }

                if (logs is not null)
                {
                    await logs.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
                }
            }

            var duration = _time.GetElapsedTime(started);
            if (exitCode != 0)
            {
                throw new TestsFailedException(run, exitCode, Snapshot());
            }

            passed = true;
            return new TestRunResult(run, spec.Name, duration, lines);
        }
        finally
        {
            if (id is not null)
            {
                var removal = RemoveAsync(id);
                if (passed && removeBeside is not null)
                {
                    removeBeside(removal);
                }
                else
                {
                    await removal.ConfigureAwait(false);
                }
            }
        }

        IReadOnlyList<string> Snapshot()
        {
            lock (tail)
            {
                return tail.ToList();
            }
        }
    }

    /// <summary>Removes a test container; with a fresh token, so it goes even when the run was cancelled.</summary>
    private async Task RemoveAsync(string id)
    {
        using var cleanup = new CancellationTokenSource(CleanupTimeout, _time);
        await _engine.RemoveContainerAsync(id, cleanup.Token).ConfigureAwait(false);
    }

    /// <summary>The container a run creates: contract variables, labels, network, name.</summary>
    /// <exception cref="ArgumentException">The run redefines a contract variable.</exception>
    public static ContainerSpec CreateSpec(TestRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var clash = run.Environment.Keys.Where(k => ContractVariables.Contains(k, StringComparer.Ordinal)).ToList();
        if (clash.Count > 0)
        {
            throw new ArgumentException(
                $"The environment for {run.Description} redefines {string.Join(", ", clash)}; the runner sets {string.Join(", ", ContractVariables)} itself. Set them through the TestRun's properties.",
                nameof(run));
        }

        var environment = new Dictionary<string, string>(run.Environment)
        {
            ["TEST_TYPE"] = run.Type.ToContractName(),
            ["TARGET_URL"] = run.TargetUrl?.ToString() ?? "",
            ["SERVICE_NAME"] = run.ServiceName,
            ["SERVICE_VERSION"] = run.ServiceVersion,
            ["SERVICE_COLOR"] = run.ServiceColor ?? "",
        };

        var labels = new Dictionary<string, string>(run.Labels);
        labels.TryAdd(Labels.Service, run.ServiceName);
        labels.TryAdd(Labels.Version, run.ServiceVersion);
        if (run.ServiceColor is { Length: > 0 } color)
        {
            labels.TryAdd(Labels.Color, color);
        }

        labels[Labels.Role] = Roles.Test;
        labels[Labels.TestType] = run.Type.ToContractName();

        return new ContainerSpec
        {
            Name = run.ContainerName ?? $"{NameUnsafe().Replace(run.ServiceName, "-")}-{run.Type.ToContractName()}-tests-{Guid.NewGuid().ToString("N")[..8]}",
            Image = run.Image,
            Environment = environment,
            Labels = labels,
            Network = run.Network,
            ExtraHosts = run.ExtraHosts,
        };
    }

    [GeneratedRegex("[^a-zA-Z0-9_.-]")]
    private static partial Regex NameUnsafe();
}
