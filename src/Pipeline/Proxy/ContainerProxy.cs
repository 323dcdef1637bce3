using System.Text;
using Pipeline.Docker;
using Pipeline.Timing;

namespace Pipeline.Proxy;

/// <summary>
/// What nginx and HAProxy share: a labelled container on the production engine, touched only through the
/// engine API. A config whose shape (see <see cref="ProxyTemplate"/>) is the one the proxy runs differs only in where
/// routes send traffic: that is changed through the proxy's runtime interface over one exec session that stays open,
/// then the files on disk are written to agree. Any other config is uploaded next to the live one (with the file the
/// proxy reads beside it), checked by the proxy's validator, moved into place and reloaded; a rejected config never
/// replaces the live one.
/// </summary>
public abstract class ContainerProxy : IProxy
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ActivateTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan SignalAgainAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan GeneratedCertificateValidity = TimeSpan.FromDays(397);
    private static readonly TimeSpan RestoreFileTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan LogsTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RemoveCandidateTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ShellCommandTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan RunningRecheck = TimeSpan.FromSeconds(5);
    private static long reloadsSignalledAgain;
    private readonly ProxyTemplate template;
    private readonly KeptSession<ShellSession> shell;
    private (string ContainerId, ProxyDocument Document)? live;
    private (string ContainerId, long CheckedAt)? running;

    private protected ContainerProxy(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(engine);
        Options = options.Validate();
        Engine = engine;
        Time = timeProvider ?? TimeProvider.System;
        template = ProxyTemplate.For(options);
        shell = new((id, ct) => ShellSession.OpenAsync(Engine, id, ct));
    }

    /// <inheritdoc />
    public abstract ProxyKind Kind { get; }

    /// <summary>The options this proxy was created with (validated).</summary>
    public ProxyOptions Options { get; }

    /// <inheritdoc />
    public Uri PublicUrl => Options.PublicUrl;

    /// <inheritdoc />
    public Uri? PublicHttpsUrl => Options.PublicHttpsUrl;

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

    /// <summary>Where the file the proxy reads beside its config lives (HAProxy: the version map; nginx: the routes).</summary>
    private protected abstract string CompanionPath { get; }

    /// <summary>The companion file's content for these (validated) routes.</summary>
    private protected abstract string Companion(ProxyTemplateModel model);

    /// <summary>True when this proxy can make a change between two configs of this shape at runtime.</summary>
    private protected abstract bool CanSwitchAtRuntime(ProxyShape shape);

    /// <summary>
    /// Makes the running proxy route as <paramref name="model"/> says, through its runtime interface; returns false when it
    /// already did. Throws <see cref="ProxyRuntimeMismatchException"/> when the running config lacks what the model needs.
    /// </summary>
    private protected abstract Task<bool> ApplyRuntimeAsync(string containerId, ProxyTemplateModel model, CancellationToken ct);

    /// <summary>Requests in flight to <paramref name="color"/> on the routes whose ids match <paramref name="routeId"/>, in every process.</summary>
    private protected abstract Task<int> CountInFlightAsync(string containerId, System.Text.RegularExpressions.Regex routeId, string color, CancellationToken ct);

    /// <summary>The text the validator checks for a candidate config whose companion was uploaded to <paramref name="candidateCompanionPath"/>.</summary>
    private protected virtual string ForValidation(string config, string candidateCompanionPath) => config;

    /// <summary>Ends the runtime session, if one is open.</summary>
    private protected abstract ValueTask CloseSessionAsync();

    /// <summary>Ends the runtime session, if one is open, when the proxy is disposed (nothing may use it any more).</summary>
    private protected abstract void CloseSession();

    /// <summary>True when the proxy answers on its runtime session (opening it when needed); false when it has none or does not answer.</summary>
    private protected abstract Task<bool> AnswersOnSessionAsync(string containerId, CancellationToken ct);

    /// <summary>Where the certificate chain and key live in the container (one PEM file).</summary>
    private protected abstract string CertificatePath { get; }

    /// <summary>
    /// Makes the running proxy use <paramref name="pem"/> for new TLS connections without a reload, then leaves the file
    /// at <see cref="CertificatePath"/> holding it (HAProxy: Runtime API transaction; nginx: it reads the file per handshake).
    /// </summary>
    private protected abstract Task ReplaceCertificateAsync(string containerId, string pem, CancellationToken ct);

    /// <summary>Who owns the certificate file (<c>user:group</c>, mode 640): the processes that read it at handshakes.</summary>
    private protected abstract string CertificateOwner { get; }

    /// <summary>True when this proxy terminates TLS.</summary>
    private bool Https => Options.HttpsPort is not null;

    /// <inheritdoc />
    public string Render(IReadOnlyList<ProxyRoute> routes)
    {
        var body = template.Render(Kind, routes, Https);
        var shape = template.Shape(Kind, routes, Https);
        return ProxyDocument.Compose(shape, CanSwitchAtRuntime(shape), routes, body);
    }

    /// <summary>The companion file for these routes (what the proxy reads beside its config).</summary>
    internal string CompanionFor(params ProxyRoute[] routes)
    {
        ProxyRouteValidation.Validate(routes);
        return Companion(ProxyTemplateModel.From(Kind.Name, routes));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await CloseSessionAsync().ConfigureAwait(false);
        await shell.CloseAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Closing the sessions only closes their stdin and connections: nothing waits on the network.
        CloseSession();
        shell.Close();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// How many reloads, in this process, were signalled a second time because the proxy had started no new worker
    /// 5 s after the first signal (each such reload took at least 5 s). For the bench's report.
    /// </summary>
    public static long ReloadsSignalledAgain => Interlocked.Read(ref reloadsSignalledAgain);

    /// <inheritdoc />
    public async Task<string?> FindContainerAsync(CancellationToken ct = default)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        return info?.Id;
    }

    /// <inheritdoc />
    public Task<string> EnsureRunningAsync(CancellationToken ct = default) => EnsureRunningAsync(null, ct);

    /// <inheritdoc />
    public async Task<string> EnsureRunningAsync(Func<CancellationToken, Task>? beforeCreate, CancellationToken ct = default)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        var created = false;
        if (info is null)
        {
            created = true;
            if (beforeCreate is not null)
            {
                await beforeCreate(ct).ConfigureAwait(false);
            }

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

                return await EnsureRunningAsync(null, ct).ConfigureAwait(false);
            }

            await WriteInitialConfigAsync(id, ct).ConfigureAwait(false);
            info = await Engine.InspectContainerAsync(id, ct).ConfigureAwait(false)
                ?? throw new ProxyException($"The {Kind} proxy container '{Options.ContainerName}' disappeared right after it was created on {Engine.Endpoint}.");
        }

        if (!info.Labels.TryGetValue(Labels.Proxy, out var kind) || kind != Kind.Name)
        {
            throw new ProxyException(
                $"Container '{Options.ContainerName}' on {Engine.Endpoint} is not a {Kind} proxy " +
                $"(label {Labels.Proxy}={(kind ?? "<missing>")}); remove it or choose another ProxyOptions.ContainerName.");
        }

        var published = info.Labels.GetValueOrDefault(Labels.ProxyHttpsPort);
        var wanted = Options.HttpsPort?.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (published != wanted)
        {
            throw new ProxyException(
                $"The {Kind} proxy container '{Options.ContainerName}' on {Engine.Endpoint} publishes {(published is null ? "no HTTPS port" : $"HTTPS on port {published}")}, " +
                $"but {(wanted is null ? "no HTTPS port is" : $"HTTPS port {wanted} is")} configured; a published port cannot change while the proxy runs: " +
                $"remove the container (its routes are rendered again from the registry) or configure the port it has.");
        }

        if (!info.IsRunning)
        {
            if (info.State == "created")
            {
                // Never started: it may have been left between create and upload; a created container was never given a route.
                await WriteInitialConfigAsync(info.Id, ct).ConfigureAwait(false);
            }

            await Engine.StartContainerAsync(info.Id, ct).ConfigureAwait(false);
        }

        // A proxy that was running already and answers on its runtime session is ready: that session is needed for the
        // switch anyway, and opening it costs less than the exec of a readiness check.
        if (created || !info.IsRunning || !await AnswersOnSessionAsync(info.Id, ct).ConfigureAwait(false))
        {
            await WaitReadyAsync(info.Id, ct).ConfigureAwait(false);
        }

        if (created && Options.HttpsPort is not null)
        {
            // The archive that created it wrote the key readable by everyone in the container; only its readers may.
            await ExecCheckedAsync(info.Id, ["/bin/chown", CertificateOwner, CertificatePath], "protect the private key", ct).ConfigureAwait(false);
            await ExecCheckedAsync(info.Id, ["/bin/chmod", "640", CertificatePath], "protect the private key", ct).ConfigureAwait(false);
        }

        running = (info.Id, Time.GetTimestamp());
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

        var text = await ReadFileAsync(info, LiveConfigPath, ct).ConfigureAwait(false);
        live = text is null ? null : (info.Id, ProxyDocument.Parse(text));
        return text;
    }

    /// <inheritdoc />
    public async Task ValidateAsync(string config, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var candidate = await UploadCandidateAsync(id, ProxyDocument.Parse(config), forValidation: true, ct).ConfigureAwait(false);
        try
        {
            await CheckAsync(id, candidate.CheckPath!, ct).ConfigureAwait(false);
        }
        finally
        {
            await RemoveQuietlyAsync(id, candidate.Paths).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public Task<ProxyChange> ApplyAsync(string config, CancellationToken ct = default) => ApplyAsync(config, null, ct);

    /// <inheritdoc />
    public async Task<ProxyChange> ApplyAsync(string config, Action<ProxyChange>? changed, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var desired = ProxyDocument.Parse(config);
        var current = await LiveDocumentAsync(id, ct).ConfigureAwait(false);
        if (desired is { Runtime: true, Routes: { } routes } && current is { Runtime: true } && current.Shape == desired.Shape)
        {
            try
            {
                // Same shape: only where traffic goes differs. Change it in the running proxy first (the switch), then make
                // the files say the same, so a later reload keeps it. The runtime is compared with what runs, not with the
                // file: after a crash between the two steps the file may be behind, and this puts both right.
                var switched = await ApplyRuntimeAsync(id, ProxyTemplateModel.From(Kind.Name, routes), ct).ConfigureAwait(false);
                if (switched)
                {
                    changed?.Invoke(ProxyChange.Runtime);
                }

                if (current.Text != config)
                {
                    await InstallAsync(id, desired, ct).ConfigureAwait(false);
                    switched = true;
                }

                return switched ? ProxyChange.Runtime : ProxyChange.None;
            }
            catch (ProxyRuntimeMismatchException)
            {
                // The running proxy lacks what its file promised (e.g. changed by hand): load the config whole.
            }
        }
        else if (!desired.Runtime && current?.Text == config)
        {
            return ProxyChange.None;
        }

        var candidate = await UploadCandidateAsync(id, desired, forValidation: true, ct).ConfigureAwait(false);
        var previous = current;
        try
        {
            await CheckAsync(id, candidate.CheckPath!, ct).ConfigureAwait(false);
            await MoveIntoPlaceAsync(id, candidate, ct).ConfigureAwait(false);
        }
        catch
        {
            await RemoveQuietlyAsync(id, candidate.Paths).ConfigureAwait(false);
            throw;
        }

        live = (id, desired);
        try
        {
            await ActivateAsync(id, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (previous is not null)
        {
            // The reload may have happened anyway (a new worker that came up after the deadline): put the old files back and
            // load them again, so what the proxy runs and what its files say agree before anything else is undone.
            using var undo = new CancellationTokenSource(RestoreFileTimeout, Time);
            await WriteLiveFilesAsync(id, previous, undo.Token).ConfigureAwait(false);
            live = (id, previous);
            try
            {
                await ActivateAsync(id, undo.Token).ConfigureAwait(false);
            }
            catch (Exception again) when (again is ProxyException or DockerEngineException or OperationCanceledException)
            {
                // Unknown what runs: mark the file before its state line, so it parses as foreign and differs from every
                // rendered config; the next apply (a rollback's) reloads it whole.
                var marked = ProxyDocument.Parse(UnknownStateMark.TrimStart('\n') + previous.Text) with { Routes = previous.Routes };
                await WriteLiveFilesAsync(id, marked, CancellationToken.None).ConfigureAwait(false);
                live = (id, marked);
                throw new ProxyException(
                    $"The {Kind} proxy '{Options.ContainerName}' did not activate the new config ({e.Message}), and loading the previous config again failed too " +
                    $"({again.Message}): it may run either. Its file holds the previous config, marked so that the next apply reloads it.",
                    e);
            }

            throw new ProxyException(
                $"The {Kind} proxy '{Options.ContainerName}' did not activate the new config; the previous config was put back and loaded again, so the proxy runs it. {e.Message}",
                e);
        }

        changed?.Invoke(ProxyChange.Reload);
        return ProxyChange.Reload;
    }

    /// <inheritdoc />
    public async Task<int> InFlightAsync(string service, string color, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        ArgumentException.ThrowIfNullOrWhiteSpace(color);
        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var routeId = new System.Text.RegularExpressions.Regex($"^{System.Text.RegularExpressions.Regex.Escape(service)}_[0-9]+$");
        return await CountInFlightAsync(id, routeId, color, ct).ConfigureAwait(false);
    }

    /// <summary>The live config as last read or written by this instance, read from the container when not known yet.</summary>
    private async Task<ProxyDocument?> LiveDocumentAsync(string id, CancellationToken ct)
    {
        if (live is { } known && known.ContainerId == id)
        {
            return known.Document;
        }

        var text = await ReadFileAsync(id, LiveConfigPath, ct).ConfigureAwait(false);
        live = text is null ? null : (id, ProxyDocument.Parse(text));
        return live?.Document;
    }

    /// <summary>Writes the config and its companion (no validation: the shape is the one the proxy runs) and remembers it.</summary>
    private async Task InstallAsync(string id, ProxyDocument document, CancellationToken ct)
    {
        var candidate = Candidate.For(LiveConfigPath, CompanionPath, forValidation: false);
        try
        {
            // One command: both files written next to the live ones, then each moved into place (a rename, atomic).
            await ExecScriptCheckedAsync(id, WriteCandidates(document, candidate) + MoveIntoPlace(candidate), "install the new config", ct).ConfigureAwait(false);
        }
        catch
        {
            await RemoveQuietlyAsync(id, candidate.Paths).ConfigureAwait(false);
            throw;
        }

        live = (id, document);
    }

    private async Task WriteInitialConfigAsync(string id, CancellationToken ct)
    {
        var document = ProxyDocument.Parse(Render([]));
        var files = Files(document);
        if (Options.HttpsPort is not null)
        {
            // Without a given certificate, one is generated for local use (and kept in the container).
            var certificate = Options.Certificate ?? ProxyCertificate.CreateSelfSigned([Options.ListenAddress, "localhost"], GeneratedCertificateValidity, Time);
            files[FileName(CertificatePath)] = Encoding.ASCII.GetBytes(Pem(certificate));
        }

        await Engine.PutFilesAsync(id, Directory(LiveConfigPath), files, ct).ConfigureAwait(false);
        live = (id, document);
    }

    /// <inheritdoc />
    public async Task PrepareAsync(CancellationToken ct = default)
    {
        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        if (info is { IsRunning: true })
        {
            await Task.WhenAll(AnswersOnSessionAsync(info.Id, ct), ShellAsync(info.Id, "true", ct)).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<ProxyChange> InstallCertificateAsync(CancellationToken ct = default)
    {
        if (Options.Certificate is not { } certificate)
        {
            return ProxyChange.None;
        }

        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var pem = Pem(certificate);
        if (await ReadFileAsync(id, CertificatePath, ct).ConfigureAwait(false) == pem)
        {
            return ProxyChange.None;
        }

        await ReplaceCertificateAsync(id, pem, ct).ConfigureAwait(false);
        return ProxyChange.Runtime;
    }

    /// <inheritdoc />
    public async Task<string?> CertificateAuthorityAsync(CancellationToken ct = default)
    {
        if (Options.HttpsPort is null)
        {
            return null;
        }

        var id = await RunningContainerAsync(ct).ConfigureAwait(false);
        var pem = await ReadFileAsync(id, CertificatePath, ct).ConfigureAwait(false)
            ?? throw new ProxyException($"The {Kind} proxy '{Options.ContainerName}' terminates TLS but has no certificate file {CertificatePath}.");
        const string Begin = "-----BEGIN CERTIFICATE-----";
        const string End = "-----END CERTIFICATE-----";
        var last = pem.LastIndexOf(Begin, StringComparison.Ordinal);
        var end = last < 0 ? -1 : pem.IndexOf(End, last, StringComparison.Ordinal);
        return last < 0 || end < 0
            ? throw new ProxyException($"The certificate file {CertificatePath} of the {Kind} proxy '{Options.ContainerName}' holds no PEM certificate.")
            : pem[last..(end + End.Length)] + "\n";
    }

    /// <summary>Writes <paramref name="pem"/> next to the certificate file and moves it into place (one atomic rename).</summary>
    private protected async Task WriteCertificateFileAsync(string id, string pem, CancellationToken ct)
    {
        var candidate = $"{CertificatePath}.candidate-{Guid.NewGuid().ToString("N")[..8]}";
        var quoted = ShellSession.Quote(candidate);
        await ExecScriptCheckedAsync(
            id,
            $"(umask 077 && {ShellSession.WriteFile(candidate, Encoding.ASCII.GetBytes(pem)).TrimEnd('\n')}\n) && chown {ShellSession.Quote(CertificateOwner)} {quoted} && chmod 640 {quoted} && mv -f {quoted} {ShellSession.Quote(CertificatePath)}",
            "install the new certificate",
            ct).ConfigureAwait(false);
    }

    /// <summary>Put before the state line after a reload whose outcome is unknown: the file then matches no rendered config.</summary>
    internal const string UnknownStateMark = "\n# Pipeline: a reload of this proxy failed; what runs may differ from this file. The next apply reloads it.\n";

    /// <summary>Writes the config and its companion in place (no validation, no reload).</summary>
    private Task WriteLiveFilesAsync(string id, ProxyDocument document, CancellationToken ct) =>
        ExecScriptCheckedAsync(id, string.Concat(Files(document).Select(f => ShellSession.WriteFile($"{Directory(LiveConfigPath)}/{f.Key}", f.Value))), "restore the previous config", ct);

    /// <summary>The certificate chain followed by the key: the one file both proxies read.</summary>
    private static string Pem(ProxyCertificate certificate) => certificate.CertificatePem + certificate.KeyPem;

    /// <summary>The config and its companion, by file name (both live in the config's folder).</summary>
    private Dictionary<string, byte[]> Files(ProxyDocument document) => new()
    {
        [FileName(LiveConfigPath)] = Encoding.UTF8.GetBytes(document.Text),
        [FileName(CompanionPath)] = Encoding.UTF8.GetBytes(Companion(ProxyTemplateModel.From(Kind.Name, document.Routes ?? []))),
    };

    /// <summary>Writes the config and its companion as candidates (and a copy for the validator) beside the live ones.</summary>
    private async Task<Candidate> UploadCandidateAsync(string id, ProxyDocument document, bool forValidation, CancellationToken ct)
    {
        var candidate = Candidate.For(LiveConfigPath, CompanionPath, forValidation);
        await ExecScriptCheckedAsync(id, WriteCandidates(document, candidate), "write the new config beside the live one", ct).ConfigureAwait(false);
        return candidate;
    }

    private string WriteCandidates(ProxyDocument document, Candidate candidate)
    {
        var files = Files(document);
        var script = ShellSession.WriteFile(candidate.Config, files[FileName(LiveConfigPath)])
            + ShellSession.WriteFile(candidate.Companion, files[FileName(CompanionPath)]);
        return candidate.CheckPath is null
            ? script
            : script + ShellSession.WriteFile(candidate.CheckPath, Encoding.UTF8.GetBytes(ForValidation(document.Text, candidate.Companion)));
    }

    private string MoveIntoPlace(Candidate candidate) =>
        $"mv -f {ShellSession.Quote(candidate.Companion)} {ShellSession.Quote(CompanionPath)} && mv -f {ShellSession.Quote(candidate.Config)} {ShellSession.Quote(LiveConfigPath)}" +
        (candidate.CheckPath is null ? "" : $" && rm -f {ShellSession.Quote(candidate.CheckPath)}");

    private Task MoveIntoPlaceAsync(string id, Candidate candidate, CancellationToken ct) =>
        ExecScriptCheckedAsync(id, MoveIntoPlace(candidate), "install the new config", ct);

    private static string Directory(string path) => path[..path.LastIndexOf('/')];

    private static string FileName(string path) => path[(path.LastIndexOf('/') + 1)..];

    private sealed record Candidate(string Config, string Companion, string? CheckPath)
    {
        public IReadOnlyList<string> Paths => CheckPath is null ? [Config, Companion] : [Config, Companion, CheckPath];

        public static Candidate For(string config, string companion, bool forValidation)
        {
            var suffix = $".candidate-{Guid.NewGuid().ToString("N")[..8]}";
            return new Candidate(config + suffix, companion + suffix, forValidation ? $"{config}{suffix}.check" : null);
        }
    }

    /// <summary>Runs a command in the proxy container (through its shell session) and throws <see cref="ProxyException"/> with its output when it fails.</summary>
    private protected async Task<ExecResult> ExecCheckedAsync(string id, IReadOnlyList<string> command, string purpose, CancellationToken ct)
    {
        var result = await ShellAsync(id, string.Join(' ', command.Select(ShellSession.Quote)), ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new ProxyException(
                $"Could not {purpose} in the {Kind} proxy '{Options.ContainerName}': `{string.Join(' ', command)}` exited with {result.ExitCode}:\n" +
                Indent.Text(Output(result)));
        }

        return result;
    }

    /// <summary>Runs a script in the proxy container's shell session and throws <see cref="ProxyException"/> with its output when it fails.</summary>
    private async Task ExecScriptCheckedAsync(string id, string script, string purpose, CancellationToken ct)
    {
        var result = await ShellAsync(id, script, ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new ProxyException($"Could not {purpose} in the {Kind} proxy '{Options.ContainerName}': the command exited with {result.ExitCode}:\n{Indent.Text(Output(result))}");
        }
    }

    /// <summary>
    /// Runs a script in the proxy container through one <c>/bin/sh</c> kept open (opened on first use, and again once when
    /// the one left open has ended); stderr comes with stdout. The script must not <c>exit</c> the shell (use a subshell).
    /// </summary>
    private protected async Task<ExecResult> ShellAsync(string id, string script, CancellationToken ct)
    {
        var (code, stdout) = await shell.UseAsync(
            id,
            (session, t) => session.RunAsync($"{{ {script}\n}} 2>&1", t),
            ShellCommandTimeout,
            e => e is IOException or DockerEngineException,
            e => new ProxyException($"Could not run a command in the {Kind} proxy container '{Options.ContainerName}' on {Engine.Endpoint}: {e.Message}", e),
            ct).ConfigureAwait(false);
        return new ExecResult(code, stdout, "");
    }

    private protected static string Output(ExecResult result) =>
        string.Join('\n', new[] { result.Stdout.TrimEnd(), result.Stderr.TrimEnd() }.Where(s => s.Length > 0));

    private async Task<string?> ReadFileAsync(ContainerInfo info, string path, CancellationToken ct)
    {
        if (!info.IsRunning)
        {
            // Through the engine's archive API (one request) while it does not run.
            var bytes = await Engine.GetFileAsync(info.Id, path, ct).ConfigureAwait(false);
            return bytes is null ? null : Encoding.UTF8.GetString(bytes);
        }

        return await ReadFileAsync(info.Id, path, ct).ConfigureAwait(false);
    }

    /// <summary>A running container's file, through its shell session; null when it does not exist.</summary>
    private async Task<string?> ReadFileAsync(string runningId, string path, CancellationToken ct)
    {
        var quoted = ShellSession.Quote(path);
        var result = await ShellAsync(runningId, $"( [ -e {quoted} ] || exit 3; exec cat {quoted} )", ct).ConfigureAwait(false);
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
        var signalledAt = Time.GetTimestamp();
        var signalledAgain = false;
        var (asked, answered) = (0, 0);
        string? lastAnswer = null;
        string? lastError = null;

        async Task<bool> NewWorkerServesAsync(CancellationToken deadline)
        {
            asked++;
            try
            {
                // While it reloads the proxy may briefly refuse its control socket: that is "not yet", not a failure.
                var now = await ServingProcessesAsync(id, deadline).ConfigureAwait(false);
                answered++;

                // Served by new workers only: an old one that still accepts would answer with the old config.
                if (now.Count > 0 && !now.Overlaps(before))
                {
                    return true;
                }

                lastAnswer = $"workers then: {string.Join(", ", now)}";

                // The same workers, none new, none gone, a while after the signal: it may not have been taken (one came
                // while another process's reload was still under way). Loading the same files once more is harmless.
                if (!signalledAgain && now.SetEquals(before) && Time.GetElapsedTime(signalledAt) >= SignalAgainAfter)
                {
                    signalledAgain = true;
                    Interlocked.Increment(ref reloadsSignalledAgain);
                    await SignalReloadAsync(id, deadline).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is ProxyException or IOException or DockerEngineException)
            {
                lastError = e.Message;
            }

            return false;
        }

        if (!await Poll.UntilAsync(NewWorkerServesAsync, ActivateTimeout, PollInterval, Time, ct).ConfigureAwait(false))
        {
            var logs = await LogsAsync(id).ConfigureAwait(false);
            throw new ProxyException(
                $"The {Kind} proxy '{Options.ContainerName}' started no new worker within {ActivateTimeout.TotalSeconds:0} s of the reload " +
                $"(workers before: {string.Join(", ", before)}; signalled {(signalledAgain ? "twice" : "once")}, asked {asked} times, {answered} answered{(lastAnswer is null ? "" : $", last {lastAnswer}")}" +
                $"{(lastError is null ? "" : $"; last error: {lastError}")}). The end of its log:\n{Indent.Text(string.Join('\n', logs.Split('\n').TakeLast(12)))}");
        }
    }

    private async Task CheckAsync(string id, string candidate, CancellationToken ct)
    {
        var result = await ShellAsync(id, string.Join(' ', ValidateCommand(candidate).Select(ShellSession.Quote)), ct).ConfigureAwait(false);
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
        // Seen running a moment ago (by EnsureRunningAsync or here): one change after another needs no new look.
        if (running is { } seen && Time.GetElapsedTime(seen.CheckedAt) < RunningRecheck)
        {
            return seen.ContainerId;
        }

        var info = await Engine.InspectContainerAsync(Options.ContainerName, ct).ConfigureAwait(false);
        if (info is null || !info.IsRunning)
        {
            throw new ProxyException(
                $"The {Kind} proxy container '{Options.ContainerName}' is {(info is null ? "missing" : info.State)} on {Engine.Endpoint}; call EnsureRunningAsync first.");
        }

        running = (info.Id, Time.GetTimestamp());
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

    private async Task RemoveQuietlyAsync(string id, IReadOnlyList<string> paths)
    {
        try
        {
            using var cts = new CancellationTokenSource(RemoveCandidateTimeout, Time);
            await ShellAsync(id, "rm -f " + string.Join(' ', paths.Select(ShellSession.Quote)), cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or DockerEngineException or ProxyException)
        {
            // A stray candidate file is harmless; the live config is what matters.
        }
    }

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
        List<PortBinding> ports = [new PortBinding(Options.ListenAddress, Options.ListenPort, ProxyOptions.ContainerPort)];
        if (Options.HttpsPort is { } https)
        {
            labels[Labels.ProxyHttpsPort] = https.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ports.Add(new PortBinding(Options.ListenAddress, https, ProxyOptions.ContainerHttpsPort));
        }

        return new ContainerSpec
        {
            Name = Options.ContainerName,
            Image = Options.Image,
            Command = Command,
            Labels = labels,
            Network = Options.Network,
            Ports = ports,
            RestartPolicy = "unless-stopped",
        };
    }
}

/// <summary>The running proxy lacks a backend, server or map its config file promised, so a runtime change cannot be made.</summary>
internal sealed class ProxyRuntimeMismatchException(string message) : Exception(message);

/// <summary>Running or reconfiguring the proxy container failed; the message names the container and what the engine or proxy answered.</summary>
public sealed class ProxyException(string message, Exception? inner = null) : Exception(message, inner);
