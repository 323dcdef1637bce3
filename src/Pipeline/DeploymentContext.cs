using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Locking;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runtime;
using Pipeline.Reporting;
using Pipeline.Snapshots;

namespace Pipeline;

/// <summary>
/// Where a run's parts meet: <see cref="Options"/> (inputs, validated once), <see cref="State"/> (what stages found
/// and made), the <see cref="Journal"/>, the <see cref="Time">clock</see>, a <see cref="CancellationToken"/> wired to
/// Ctrl-C and SIGTERM, and the adapters (engines, service registry, proxy), each created on first use from the options.
/// The behaviour lives beside what it drives: <see cref="ProxySwitch"/>, <see cref="DeploymentLockSession"/>, <see cref="RollbackRunner"/>.
/// Register options from code with <c>ConfigureServices(s =&gt; s.AddSingleton(new DeploymentOptions { … }))</c>, and a
/// clock with <c>s.AddSingleton&lt;TimeProvider&gt;(…)</c>.
/// </summary>
public class DeploymentContext : FrostingContext, IAsyncDisposable, IFrostingTaskSetup, IFrostingTaskTeardown, IFrostingTeardown
{
    private readonly DeploymentOptions _fromCode;
    private readonly RunCancellation _cancellation;
    private readonly List<IDisposable> _owned = [];
    private readonly List<(Task Work, CancellationTokenSource Cancel)> _background = [];
    private DeploymentOptions? _options;
    private IDockerEngine? _cdEngine;
    private IDockerEngine? _productionEngine;
    private IServiceRegistry? _registryClient;
    private IServiceRegistry? _serviceRegistry;
    private ServiceCatalog? _catalog;
    private DeploymentJournal? _journal;
    private IProxy? _proxy;
    private ProxySwitch? _proxySwitch;
    private DeploymentLockSession? _deployLock;
    private RollbackRunner? _rollbackRunner;
    private IReleaseRuntime? _runtime;
    private string? _version;
    private RegistryCredentials? _credentials;
    private bool _credentialsResolved;

    /// <summary>How long <c>git describe</c> may take to tell the default version.</summary>
    private static readonly TimeSpan GitDescribeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Creates the context; options from code are merged with the environment and command line on first use.</summary>
    /// <param name="context">Cake's context.</param>
    /// <param name="options">Options set in code; the defaults when null.</param>
    /// <param name="time">The clock every stage, wait and timestamp uses; the system clock when null.</param>
    public DeploymentContext(ICakeContext context, DeploymentOptions? options = null, TimeProvider? time = null)
        : base(context)
    {
        _fromCode = options ?? new DeploymentOptions();
        Time = time ?? TimeProvider.System;
        DeployId = $"{Time.GetUtcNow().UtcDateTime:yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}";
        _cancellation = new RunCancellation(line => Log.Warning(line));
        Lifecycle = new RunLifecycle(this, GitHub.GitHubActions.Detect(System.Environment.GetEnvironmentVariable, Console.Out));
    }

    /// <summary>The validated options. The first access resolves and validates them; bad values throw <see cref="InvalidOptionsException"/> before any engine is touched.</summary>
    public DeploymentOptions Options => _options ??= OptionResolver.Resolve(
        _fromCode,
        name => !Arguments.HasArgument(name) ? null
            : OptionResolver.IsRepeatable(name) ? string.Join(',', Arguments.GetArguments(name)) : Arguments.GetArgument(name) ?? "",
        System.Environment.GetEnvironmentVariable,
        Environment.WorkingDirectory.FullPath);

    /// <summary>The clock: timestamps, stage durations, timeouts and waits.</summary>
    public TimeProvider Time { get; }

    /// <summary>This run's id: labels and history carry it.</summary>
    public string DeployId { get; }

    /// <summary>The service this run deploys.</summary>
    public string Service => Options.Service!;

    /// <summary>The version this run deploys: <see cref="DeploymentOptions.Version"/>, else the one <see cref="ResolveVersionAsync"/> found.</summary>
    /// <exception cref="InvalidOperationException">No version was given and none was resolved yet.</exception>
    public string Version => Options.Version ?? _version
        ?? throw new InvalidOperationException("No release version was given and none was resolved yet: call ResolveVersionAsync first (every stage does).");

    /// <summary>Finds the version when the options give none (<see cref="OptionResolver.DefaultVersionAsync"/>); the first call does the work.</summary>
    public async Task<string> ResolveVersionAsync(CancellationToken ct = default) =>
        Options.Version ?? (_version ??= await OptionResolver.DefaultVersionAsync(Options.ServiceDirectory, GitDescribeTimeout, Time, ct));

    /// <summary>
    /// The port the release listens on: <c>--service-port</c>, else the one port the service image exposes (BuildImage
    /// reads it), else <see cref="DeploymentOptions.DefaultServicePort"/>.
    /// </summary>
    public int ServicePort => Options.ServicePort ?? State.ServicePort ?? DeploymentOptions.DefaultServicePort;

    /// <summary>What the stages found and made.</summary>
    public DeploymentState State { get; } = new();

    /// <summary>Cancelled by Ctrl-C, SIGTERM or a lost deploy lock. Undo steps do not use it: they get their own timeout.</summary>
    public CancellationToken CancellationToken => _cancellation.Token;

    /// <summary>The engine that runs tests, builds and pushes.</summary>
    public IDockerEngine CdEngine => _cdEngine ??= Own(CreateEngine(Options.CdEngine));

    /// <summary>The engine that runs releases and the proxy.</summary>
    public IDockerEngine ProductionEngine => _productionEngine ??=
        Options.ProductionEngine == Options.CdEngine ? CdEngine : Own(CreateEngine(Options.ProductionEngine));

    /// <summary>
    /// Where releases run on the production engine: containers on one engine, or swarm services
    /// (<see cref="DeploymentOptions.Orchestrator"/>). Resolved once by <see cref="ResolveRuntimeAsync"/> (Preflight,
    /// AcquireLock, Rollback, Status and Snapshot call it): <c>auto</c> asks the production engine whether it is a swarm manager.
    /// </summary>
    /// <exception cref="InvalidOperationException">It was not resolved yet.</exception>
    public IReleaseRuntime Runtime => _runtime
        ?? throw new InvalidOperationException("The release runtime is not resolved yet: call ResolveRuntimeAsync first (Preflight, AcquireLock, Rollback, Status and Snapshot do).");

    /// <summary>Chooses and creates the release runtime (the first call does the work; <c>auto</c> reads the production engine's <c>/info</c>).</summary>
    /// <exception cref="ReleaseRuntimeException">The production engine cannot run releases the way the options ask (e.g. it is a swarm worker); the message names the fix.</exception>
    public async Task<IReleaseRuntime> ResolveRuntimeAsync(CancellationToken ct = default) =>
        _runtime ??= await CreateReleaseRuntimeAsync(ct);

    /// <summary>How many replicas this run's release gets: <see cref="DeploymentOptions.Replicas"/>, else 1 on one engine and 2 on a swarm.</summary>
    public int Replicas => Options.Replicas ?? (Runtime.Kind == OrchestratorKind.Swarm ? 2 : 1);

    /// <summary>
    /// The service registry (etcd or Consul) as this run writes to it: every put and delete is conditioned on holding the
    /// service's deploy lock (<see cref="FencedServiceRegistry"/>), so a run that lost its lock changes nothing more.
    /// </summary>
    public IServiceRegistry ServiceRegistry => _serviceRegistry ??= new FencedServiceRegistry(RegistryClient, () => DeployLock.Held, Service);

    /// <summary>Pipeline's keys in the service registry.</summary>
    public ServiceCatalog Catalog => _catalog ??= new(ServiceRegistry, Options.KeyPrefix);

    /// <summary>The write-ahead journal of this service's deploy.</summary>
    public DeploymentJournal Journal => _journal ??= new(ServiceRegistry, Options.KeyPrefix, Service, DeployId, line => Log.Warning(line));

    /// <summary>The proxy in front of every service; a proxy container it starts is labelled with this run's deploy id.</summary>
    public IProxy Proxy => _proxy ??= ProxyFactory.Create(
        Options.ToProxyOptions() with { Labels = new Dictionary<string, string> { [Labels.DeployId] = DeployId } }, ProductionEngine, Time);

    /// <summary>Renders, applies and restores the shared proxy's config under the proxy lock.</summary>
    public ProxySwitch ProxySwitch => _proxySwitch ??= new(
        Proxy, Options.ProxyContainer, Catalog, DeployId, Options.LockTtl, Options.LockTimeout, Time, line => Log.Warning(line));

    /// <summary>This run's use of the service's deploy lock (taken by AcquireLock, released at the end or after a rollback).</summary>
    public DeploymentLockSession DeployLock => _deployLock ??= new(
        RegistryClient,
        Options.KeyPrefix,
        Service,
        DeployId,
        Options.LockTtl,
        Options.LockTimeout,
        Options.UndoTimeout,
        Time,
        Log,
        _cancellation.Cancel);

    /// <summary>Unwinds this service's journal: a failing stage's handler, recovery from a dead run and <c>--target=Rollback</c> use it.</summary>
    public RollbackRunner RollbackRunner => _rollbackRunner ??= new(
        Journal,
        new RollbackScope(Service, Catalog, ProductionEngine, ProxySwitch) { Releases = Runtime, DrainTimeout = Options.DrainTimeout, Time = Time },
        Options.UndoTimeout,
        line => Log.Information(line),
        Time,
        () => DeployLock.Held?.LostReason,
        UndoActions.With(MigrationUndoActions.Create(
            (arguments, ct) => Tasks.MigrationStage.RevertFromJournalAsync(this, arguments, ct),
            (runner, ct) => Tasks.MigrationStage.StopSessionsAsync(this, runner, ct))));

    /// <summary>The run's run key, notifications, history of rollbacks and GitHub Actions reporting.</summary>
    internal RunLifecycle Lifecycle { get; }

    /// <summary>Every secret the options hold (what GitHub Actions is told to mask): passwords, tokens, notification URL credentials.</summary>
    internal IEnumerable<string> Secrets()
    {
        var options = Options;
        var secrets = new List<string?> { options.RegistryPassword, options.ConsulToken, options.EtcdPassword, RegistryCredentials?.Password };
        if (options.EtcdPasswordFile is { } file && File.Exists(file))
        {
            try
            {
                secrets.Add(File.ReadAllText(file).TrimEnd('\r', '\n'));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable here: the registry client says so when it needs it.
            }
        }

        secrets.AddRange(options.Notify.SelectMany(u => Notifications.WebhookTarget.Parse(u.OriginalString).Secrets));
        secrets.AddRange(Tasks.TestStage.Secrets(options.ReleaseEnvironment));
        return secrets.OfType<string>().Where(s => s.Length > 0).Distinct();
    }

    /// <summary>
    /// Image registry credentials: <c>--registry-username</c> with <c>PIPELINE_REGISTRY_PASSWORD</c>, else what
    /// <c>docker login</c> saved for the image registry (<see cref="DockerConfigCredentials"/>), else null.
    /// </summary>
    /// <exception cref="DockerConfigException">The docker config exists but cannot be read.</exception>
    public RegistryCredentials? RegistryCredentials
    {
        get
        {
            if (!_credentialsResolved)
            {
                _credentials = Options.RegistryUsername is { } user
                    ? new RegistryCredentials(user, Options.RegistryPassword!)
                    : DockerConfigCredentials.Find(Options.ImageRegistry, System.Environment.GetEnvironmentVariable);
                _credentialsResolved = true;
            }

            return _credentials;
        }
    }

    /// <summary>Labels for a resource this run creates.</summary>
    public Dictionary<string, string> LabelsFor(string role, string? color = null)
    {
        var labels = new Dictionary<string, string>
        {
            [Labels.Service] = Service,
            [Labels.Version] = Version,
            [Labels.DeployId] = DeployId,
            [Labels.Role] = role,
        };
        if (color is not null)
        {
            labels[Labels.Color] = color;
        }

        return labels;
    }

    /// <summary>
    /// Labels for an image this run builds: the service and the role only. The version is the image's tag; a label that
    /// changes with every deploy (version, deploy id) would make the engine commit a new image even when the sources did
    /// not change, where without it the build is answered from the engine's cache.
    /// </summary>
    public Dictionary<string, string> ImageLabelsFor(string role) =>
        new() { [Labels.Service] = Service, [Labels.Role] = role };

    /// <summary>
    /// Starts <paramref name="work"/> beside the running stage (e.g. the service image build while the pre-deployment
    /// tests run); a later stage awaits the task. Work the run no longer waits for (it failed first) is cancelled and
    /// awaited when the context is disposed.
    /// </summary>
    public Task<T> StartBeside<T>(Func<CancellationToken, Task<T>> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(CancellationToken);
        var task = Task.Run(() => work(cancel.Token), cancel.Token);
        lock (_background)
        {
            _background.Add((task, cancel));
        }

        return task;
    }

    /// <summary>
    /// Lets <paramref name="cleanup"/> (a test container's removal) go on beside the stages that follow. The run waits
    /// for it before it ends, and warns when it failed (the container is labelled, so it can be found and removed).
    /// </summary>
    public void CleanUpBeside(Task cleanup)
    {
        ArgumentNullException.ThrowIfNull(cleanup);
        var warned = cleanup.ContinueWith(
            t => Log.Warning($"A test container that passed could not be removed: {t.Exception!.GetBaseException().Message}"),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted,
            TaskScheduler.Default);
        lock (_background)
        {
            _background.Add((warned, new CancellationTokenSource()));
        }
    }

    /// <summary>
    /// Waits until the work started beside the stages has ended (a failed stage reports after it: a build cut short
    /// leaves its intermediate containers behind), without cancelling it; its own failures are left to whoever awaits it.
    /// </summary>
    public async Task SettleBesideWorkAsync()
    {
        List<Task> background;
        lock (_background)
        {
            background = [.. _background.Select(b => b.Work)];
        }

        foreach (var work in background)
        {
            await work.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Captures the service's production state (see <see cref="ProductionSnapshot"/>).</summary>
    public Task<ProductionSnapshot> CaptureSnapshotAsync(CancellationToken ct = default) =>
        ProductionSnapshot.CaptureAsync(Service, Options.KeyPrefix, Runtime, ServiceRegistry, Proxy, ct);

    /// <summary>Releases the deploy lock if this run still holds it, unhooks the signals and disposes the adapters.</summary>
    public async ValueTask DisposeAsync()
    {
        List<(Task Work, CancellationTokenSource Cancel)> background;
        lock (_background)
        {
            background = [.. _background];
        }

        foreach (var (work, cancel) in background)
        {
            await cancel.CancelAsync();
            await work.ContinueWith(_ => { }, TaskScheduler.Default);
            cancel.Dispose();
        }

        if (_deployLock is not null)
        {
            await _deployLock.ReleaseAsync();
        }

        await Lifecycle.EndAsync();

        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        _cancellation.Dispose();
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Creates the client of an engine (called once per engine, on first use; the context disposes it).</summary>
    protected virtual IDockerEngine CreateEngine(DockerEndpoint endpoint) => new DockerEngine(endpoint, Time);

    /// <summary>
    /// The registry client itself, not fenced: the deploy lock is taken and renewed through it, and a run's own bookkeeping
    /// that lives outside the lock (its run key, the notification outbox) is written through it.
    /// </summary>
    internal IServiceRegistry RegistryClient => _registryClient ??= Own(CreateServiceRegistry());

    /// <summary>
    /// Creates the release runtime on the production engine (called once, by <see cref="ResolveRuntimeAsync"/>): for
    /// <c>auto</c> and <c>swarm</c> it asks the engine's <c>/info</c> whether it is an active swarm manager.
    /// </summary>
    /// <exception cref="ReleaseRuntimeException">Swarm was asked for (or found) but the engine is no active manager.</exception>
    protected virtual async Task<IReleaseRuntime> CreateReleaseRuntimeAsync(CancellationToken ct)
    {
        var kind = Options.Orchestrator;
        if (kind != OrchestratorKind.Containers)
        {
            var swarm = ProductionEngine as ISwarmEngine
                ?? throw new ReleaseRuntimeException($"The production engine client for {Options.ProductionEngine} cannot talk to a swarm; use --orchestrator=containers.");
            var info = await swarm.GetSwarmInfoAsync(ct);
            kind = kind == OrchestratorKind.Auto && info.LocalState == SwarmLocalState.Inactive
                ? OrchestratorKind.Containers
                : SwarmRuntime.NotAManager(info, Options.ProductionEngine) is { } why ? throw new ReleaseRuntimeException(why) : OrchestratorKind.Swarm;
            if (kind == OrchestratorKind.Swarm)
            {
                return new SwarmRuntime(ProductionEngine, swarm, Options.Network, Options.ProbeImage, Options.EndpointMode, Time);
            }
        }

        return new ContainerRuntime(ProductionEngine, Options.Network, Options.ProbeImage, builtHere: Options.ProductionEngine == Options.CdEngine, Time);
    }

    /// <summary>Creates the service registry's client from the options (called once, on first use; the context disposes it).</summary>
    protected virtual IServiceRegistry CreateServiceRegistry() => ServiceRegistries.Create(Options, Time);

    void IFrostingTaskSetup.Setup(ICakeContext context, ITaskSetupContext info) => Lifecycle.TaskStarting(info.Task.Name);

    void IFrostingTaskTeardown.Teardown(ICakeContext context, ITaskTeardownContext info)
    {
        if (!info.Skipped)
        {
            Lifecycle.TaskEnded(info.Task.Name, info.Successful, info.ThrownException);
        }
    }

    void IFrostingTeardown.Teardown(ICakeContext context, ITeardownContext info) => Lifecycle.RunEnded(info.Successful);

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }
}
