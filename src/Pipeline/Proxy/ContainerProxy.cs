using System.Text;
using Pipeline.Docker;
using Pipeline.Timing;

namespace Pipeline.Proxy;

/// <summary>
/// What nginx and HAProxy share: a labelled container on the production engine, touched only through the
/// engine API. A config is uploaded next to the live one, checked by the proxy's validator, moved into place
/// and then activated; a rejected config never replaces the live one.
/// </summary>
public abstract class ContainerProxy : IProxy
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ActivateTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RestoreFileTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan LogsTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RemoveCandidateTimeout = TimeSpan.FromSeconds(10);
    private readonly ProxyTemplate template;

    private protected ContainerProxy(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(engine);
        Options = options.Validate();
        Engine = engine;
        Time = timeProvider ?? TimeProvider.System;
        template = ProxyTemplate.For(options);
    }

    /// <inheritdoc />
    public abstract ProxyKind Kind { get; }

    /// <summary>The options this proxy was created with (validated).</summary>
    public ProxyOptions Options { get; }

    /// <inheritdoc />
    public Uri PublicUrl => Options.PublicUrl;

    /// <summary>Where the live config lives inside the container.</summary>
    public abstract string LiveConfigPath { get; }

    /// <summary>Where the template this proxy renders with came from (a path or <c>built-in …</c>).</summary>
    public string TemplateSource => template.Source;

    private protected IDockerEngine Engine { get; }

    private protected TimeProvider Time { get; }

    /// <summary>The container's command: the proxy in the foreground, reading <see cref="LiveConfigPath"/>.</summary>
    private protected abstract IReadOnlyList<string> Command { get; }

    /// <summary>The validator's command for a config file.</summary>
    private protected abstract IReadOnlyList<string> ValidateCommand(string path);

    /// <summary>A command that exits 0 once the proxy serves.</summary>
    private protected abstract IReadOnlyList<string> ReadyCommand { get; }

    /// <summary>A snapshot of the proxy's serving processes (used to see a reload finish).</summary>
    private protected abstract Task<IReadOnlySet<string>> ServingProcessesAsync(string containerId, CancellationToken ct);

    /// <summary>Tells the proxy to load <see cref="LiveConfigPath"/> again.</summary>
    private protected abstract Task SignalReloadAsync(string containerId, CancellationToken ct);

    /// <inheritdoc />
    public string Render(IReadOnlyList<ProxyRoute> routes) => template.Render(Kind, routes);

    /// <inheritdoc />
    public async Task<string?> FindContainerAsync(CancellationToken ct = default)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        return info?.Id;
    }

    /// <inheritdoc />
    public async Task<string> EnsureRunningAsync(CancellationToken ct = default)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        if (info is null)
        {
            await Engine.EnsureNetworkAsync(Options.Network, NetworkLabels(), ct).ConfigureAwait(false);
            if (!await Engine.ImageExistsAsync(Options.Image, ct).ConfigureAwait(false))
            {
                await Engine.PullImageAsync(ImageRef.Parse(Options.Image), ct: ct).ConfigureAwait(false);
            }

            string id;
            try
            {
                id = await Engine.CreateContainerAsync(Spec(), ct).ConfigureAwait(false);
            }
            catch (DockerEngineException e) when (e.StatusCode == 409)
            {
                // Someone else created it at the same moment: use theirs (once; a second conflict is not a race).
                if (await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false) is null)
                {
                    throw;
                }

                return await EnsureRunningAsync(ct).ConfigureAwait(false);
            }

            await Engine.PutFileAsync(id, LiveConfigPath, Encoding.UTF8.GetBytes(Render([])), ct).ConfigureAwait(false);
            info = await Engine.InspectContainerAsync(id, ct).ConfigureAwait(false)
                ?? throw new ProxyException($"The {Kind} proxy container '{Options.ContainerName}' disappeared right after it was created on {Engine.Endpoint}.");
        }

        if (!info.Labels.TryGetValue(Labels.Proxy, out var kind) || kind != Kind.Name)
        {
            throw new ProxyException(
                $"Container '{Options.ContainerName}' on {Engine.Endpoint} is not a {Kind} proxy " +
                $"(label {Labels.Proxy}={(kind ?? "<missing>")}); remove it or choose another ProxyOptions.ContainerName.");
        }

        if (!info.IsRunning)
        {
            if (info.State == "created")
            {
                // Never started: it may have been left between create and upload; a created container was never given a route.
                await Engine.PutFileAsync(info.Id, LiveConfigPath, Encoding.UTF8.GetBytes(Render([])), ct).ConfigureAwait(false);
            }

            await Engine.StartContainerAsync(info.Id, ct).ConfigureAwait(false);
        }

        await WaitReadyAsync(info.Id, ct).ConfigureAwait(false);
        return info.Id;
    }

    /// <inheritdoc />
    public async Task<string?> ReadLiveConfigAsync(CancellationToken ct = default)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        if (info is null)
        {
            return null;
        }

        return await ReadFileAsync(info, LiveConfigPath, ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task ValidateAsync(string config, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var candidate = CandidatePath();
        await Engine.PutFileAsync(id, candidate, Encoding.UTF8.GetBytes(config), ct).ConfigureAwait(false);
        try
        {
            await CheckAsync(id, candidate, ct).ConfigureAwait(false);
        }
        finally
        {
            await RemoveQuietlyAsync(id, candidate).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task ApplyAsync(string config, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var candidate = CandidatePath();
        await Engine.PutFileAsync(id, candidate, Encoding.UTF8.GetBytes(config), ct).ConfigureAwait(false);
        byte[]? previous;
        try
        {
            await CheckAsync(id, candidate, ct).ConfigureAwait(false);
            previous = await ReadFileAsync(id, LiveConfigPath, ct).ConfigureAwait(false) is { } text ? Encoding.UTF8.GetBytes(text) : null;
            await ExecCheckedAsync(id, ["/bin/mv", "-f", candidate, LiveConfigPath], "install the new config", ct).ConfigureAwait(false);
        }
        catch
        {
            await RemoveQuietlyAsync(id, candidate).ConfigureAwait(false);
            throw;
        }

        try
        {
            await ActivateAsync(id, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (previous is not null)
        {
            // The reload may have happened anyway (a new worker that came up after the deadline): put the old file back and
            // load it again, so what the proxy runs and what its file says agree before anything else is undone.
            using var undo = new CancellationTokenSource(RestoreFileTimeout, Time);
            await Engine.PutFileAsync(id, LiveConfigPath, previous, undo.Token).ConfigureAwait(false);
            try
            {
                await ActivateAsync(id, undo.Token).ConfigureAwait(false);
            }
            catch (Exception again) when (again is ProxyException or DockerEngineException or OperationCanceledException)
            {
                // Unknown what runs: mark the file, so it differs from every config and the next apply (a rollback's) reloads it.
                await Engine.PutFileAsync(id, LiveConfigPath, [.. previous, .. Encoding.UTF8.GetBytes(UnknownStateMark)], CancellationToken.None).ConfigureAwait(false);
                throw new ProxyException(
                    $"The {Kind} proxy '{Options.ContainerName}' did not activate the new config ({e.Message}), and loading the previous config again failed too " +
                    $"({again.Message}): it may run either. Its file holds the previous config, marked so that the next apply reloads it.",
                    e);
            }

            throw new ProxyException(
                $"The {Kind} proxy '{Options.ContainerName}' did not activate the new config; the previous config was put back and loaded again, so the proxy runs it. {e.Message}",
                e);
        }
    }

    /// <summary>Appended to the file after a reload whose outcome is unknown: the file then matches no rendered config.</summary>
    internal const string UnknownStateMark = "\n# Pipeline: a reload of this proxy failed; what runs may differ from this file. The next apply reloads it.\n";

    /// <summary>Runs a command in the proxy container and throws <see cref="ProxyException"/> with its output when it fails.</summary>
    private protected async Task<ExecResult> ExecCheckedAsync(string id, IReadOnlyList<string> command, string purpose, CancellationToken ct)
    {
        var result = await Engine.ExecAsync(id, command, ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new ProxyException(
                $"Could not {purpose} in the {Kind} proxy '{Options.ContainerName}': `{string.Join(' ', command)}` exited with {result.ExitCode}:\n" +
                Indent.Text(Output(result)));
        }

        return result;
    }

    private protected static string Output(ExecResult result) =>
        string.Join('\n', new[] { result.Stdout.TrimEnd(), result.Stderr.TrimEnd() }.Where(s => s.Length > 0));

    private async Task<string?> ReadFileAsync(ContainerInfo info, string path, CancellationToken ct)
    {
        if (!info.IsRunning)
        {
            var bytes = await Engine.GetFileAsync(info.Id, path, ct).ConfigureAwait(false);
            return bytes is null ? null : Encoding.UTF8.GetString(bytes);
        }

        return await ReadFileAsync(info.Id, path, ct).ConfigureAwait(false);
    }

    private async Task<string?> ReadFileAsync(string runningId, string path, CancellationToken ct)
    {
        // Read through an exec while it runs: the config is text, and exit code 3 says the file is missing.
        var result = await Engine.ExecAsync(runningId, ["/bin/sh", "-c", "[ -e \"$1\" ] || exit 3; exec /bin/cat \"$1\"", "sh", path], ct).ConfigureAwait(false);
        return result.ExitCode switch
        {
            0 => result.Stdout,
            3 => null,
            _ => throw new ProxyException($"Could not read {path} in the {Kind} proxy '{Options.ContainerName}': cat exited with {result.ExitCode}:\n{Indent.Text(Output(result))}"),
        };
    }

    private async Task ActivateAsync(string id, CancellationToken ct)
    {
        var before = await ServingProcessesAsync(id, ct).ConfigureAwait(false);
        await SignalReloadAsync(id, ct).ConfigureAwait(false);
        var last = "";

        async Task<bool> NewWorkerServesAsync(CancellationToken deadline)
        {
            try
            {
                // While it reloads the proxy may briefly refuse its control socket: that is "not yet", not a failure.
                var now = await ServingProcessesAsync(id, deadline).ConfigureAwait(false);
                if (now.Count > 0 && now.Any(p => !before.Contains(p)))
                {
                    return true;
                }

                last = $"workers now: {string.Join(", ", now)}";
            }
            catch (ProxyException e)
            {
                last = e.Message;
            }

            return false;
        }

        if (!await Poll.UntilAsync(NewWorkerServesAsync, ActivateTimeout, PollInterval, Time, ct).ConfigureAwait(false))
        {
            throw new ProxyException(
                $"The {Kind} proxy '{Options.ContainerName}' started no new worker within {ActivateTimeout.TotalSeconds:0} s of the reload " +
                $"(workers before: {string.Join(", ", before)}; {last}).");
        }
    }

    private async Task CheckAsync(string id, string candidate, CancellationToken ct)
    {
        var result = await Engine.ExecAsync(id, ValidateCommand(candidate), ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            var output = Output(result);
            throw new ProxyConfigRejectedException(
                Kind.Name,
                output.Length == 0 ? $"(no output; `{string.Join(' ', ValidateCommand("<candidate config>"))}` exited with {result.ExitCode})" : output.Replace(candidate, "<candidate config>", StringComparison.Ordinal));
        }
    }

    private async Task<string> RunningContainerAsync(CancellationToken ct)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        if (info is null || !info.IsRunning)
        {
            throw new ProxyException(
                $"The {Kind} proxy container '{Options.ContainerName}' is {(info is null ? "missing" : info.State)} on {Engine.Endpoint}; call EnsureRunningAsync first.");
        }

        return info.Id;
    }

    private async Task WaitReadyAsync(string id, CancellationToken ct)
    {
        var last = $"`{string.Join(' ', ReadyCommand)}` gave no answer";

        async Task<bool> ReadyAsync(CancellationToken deadline)
        {
            var info = await Engine.InspectContainerAsync(id, deadline).ConfigureAwait(false);
            if (info is null || !info.IsRunning)
            {
                var logs = await LogsAsync(id).ConfigureAwait(false);
                throw new ProxyException(
                    $"The {Kind} proxy container '{Options.ContainerName}' is {(info is null ? "gone" : info.State)} instead of running on {Engine.Endpoint}; its log:\n{Indent.Text(logs)}");
            }

            var result = await Engine.ExecAsync(id, ReadyCommand, deadline).ConfigureAwait(false);
            last = $"`{string.Join(' ', ReadyCommand)}` exited with {result.ExitCode}:\n{Indent.Text(Output(result))}";
            return result.ExitCode == 0;
        }

        if (!await Poll.UntilAsync(ReadyAsync, ReadyTimeout, PollInterval, Time, ct).ConfigureAwait(false))
        {
            throw new ProxyException($"The {Kind} proxy container '{Options.ContainerName}' did not become ready within {ReadyTimeout.TotalSeconds:0} s; {last}");
        }
    }

    private async Task<string> LogsAsync(string id)
    {
        var lines = new List<string>();
        try
        {
            using var cts = new CancellationTokenSource(LogsTimeout, Time);
            await Engine.StreamLogsAsync(id, line => { lock (lines) { lines.Add(line); } }, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or DockerEngineException)
        {
            // Best effort: the message is about the failed start, not the logs.
        }

        lock (lines)
        {
            return lines.Count == 0 ? "(empty)" : string.Join('\n', lines.TakeLast(40));
        }
    }

    private async Task RemoveQuietlyAsync(string id, string path)
    {
        try
        {
            using var cts = new CancellationTokenSource(RemoveCandidateTimeout, Time);
            await Engine.ExecAsync(id, ["/bin/rm", "-f", path], cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or DockerEngineException)
        {
            // A stray candidate file is harmless; the live config is what matters.
        }
    }

    private string CandidatePath() => $"{LiveConfigPath}.candidate-{Guid.NewGuid().ToString("N")[..8]}";

    private Dictionary<string, string> NetworkLabels()
    {
        var labels = new Dictionary<string, string>(Options.Labels)
        {
            [Labels.Role] = Roles.Proxy,
        };
        return labels;
    }

    private ContainerSpec Spec()
    {
        var labels = new Dictionary<string, string>(Options.Labels)
        {
            [Labels.Role] = Roles.Proxy,
            [Labels.Proxy] = Kind.Name,
        };
        return new ContainerSpec
        {
            Name = Options.ContainerName,
            Image = Options.Image,
            Command = Command,
            Labels = labels,
            Network = Options.Network,
            Ports = [new PortBinding(Options.ListenAddress, Options.ListenPort, ProxyOptions.ContainerPort)],
            RestartPolicy = "unless-stopped",
        };
    }
}

/// <summary>Running or reconfiguring the proxy container failed; the message names the container and what the engine or proxy answered.</summary>
public sealed class ProxyException(string message, Exception? inner = null) : Exception(message, inner);
