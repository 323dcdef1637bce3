using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Locking;
using Pipeline.Proxy;
using Pipeline.Registry;
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
public class DeploymentContext : FrostingContext, IAsyncDisposable
{
    private readonly DeploymentOptions _fromCode;
    private readonly RunCancellation _cancellation;
    private readonly List<IDisposable> _owned = [];
    private readonly List<(Task Work, CancellationTokenSource Cancel)> _background = [];
    private DeploymentOptions? _options;
    private IDockerEngine? _cdEngine;
    private IDockerEngine? _productionEngine;
    private IServiceRegistry? _serviceRegistry;
    private ServiceCatalog? _catalog;
    private DeploymentJournal? _journal;
    private IProxy? _proxy;
    private ProxySwitch? _proxySwitch;
    private DeploymentLockSession? _deployLock;
    private RollbackRunner? _rollbackRunner;
    private string? _version;

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
    }

    /// <summary>The validated options. The first access resolves and validates them; bad values throw <see cref="InvalidOptionsException"/> before any engine is touched.</summary>
    public DeploymentOptions Options => _options ??= OptionResolver.Resolve(
        _fromCode,
        name => !Arguments.HasArgument(name) ? null
            : OptionResolver.IsRepeatable(name) ? string.Join(',', Arguments.GetArguments(name)) : Arguments.GetArgument(name),
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

    /// <summary>What the stages found and made.</summary>
    public DeploymentState State { get; } = new();

    /// <summary>Cancelled by Ctrl-C, SIGTERM or a lost deploy lock. Undo steps do not use it: they get their own timeout.</summary>
    public CancellationToken CancellationToken => _cancellation.Token;

    /// <summary>The engine that runs tests, builds and pushes.</summary>
    public IDockerEngine CdEngine => _cdEngine ??= Own(CreateEngine(Options.CdEngine));

    /// <summary>The engine that runs releases and the proxy.</summary>
    public IDockerEngine ProductionEngine => _productionEngine ??=
        Options.ProductionEngine == Options.CdEngine ? CdEngine : Own(CreateEngine(Options.ProductionEngine));

    /// <summary>The service registry (etcd or Consul).</summary>
    public IServiceRegistry ServiceRegistry => _serviceRegistry ??= Own(CreateServiceRegistry());

    /// <summary>Pipeline's keys in the service registry.</summary>
    public ServiceCatalog Catalog => _catalog ??= new(ServiceRegistry, Options.KeyPrefix);

    /// <summary>The write-ahead journal of this service's deploy.</summary>
    public DeploymentJournal Journal => _journal ??= new(ServiceRegistry, Options.KeyPrefix, Service);

    /// <summary>The proxy in front of every service.</summary>
    public IProxy Proxy => _proxy ??= ProxyFactory.Create(Options.ToProxyOptions(), ProductionEngine, Time);

    /// <summary>Renders, applies and restores the shared proxy's config under the proxy lock.</summary>
    public ProxySwitch ProxySwitch => _proxySwitch ??= new(
        Proxy, Options.ProxyContainer, Catalog, DeployId, Options.LockTtl, Options.LockTimeout, Time);

    /// <summary>This run's use of the service's deploy lock (taken by AcquireLock, released at the end or after a rollback).</summary>
    public DeploymentLockSession DeployLock => _deployLock ??= new(
        ServiceRegistry,
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
        Journal, ProductionEngine, ServiceRegistry, ProxySwitch.RestoreAsync, Options.UndoTimeout, line => Log.Information(line), Time);

    /// <summary>Image registry credentials, or null.</summary>
    public RegistryCredentials? RegistryCredentials =>
        Options.RegistryUsername is { } user ? new RegistryCredentials(user, Options.RegistryPassword!) : null;

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

    /// <summary>Captures the service's production state (see <see cref="ProductionSnapshot"/>).</summary>
    public Task<ProductionSnapshot> CaptureSnapshotAsync(CancellationToken ct = default) =>
        ProductionSnapshot.CaptureAsync(Service, Options.KeyPrefix, Options.Network, ProductionEngine, ServiceRegistry, Proxy, ct);

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

    /// <summary>Creates the service registry's client from the options (called once, on first use; the context disposes it).</summary>
    protected virtual IServiceRegistry CreateServiceRegistry() => Options.RegistryKind == RegistryKind.Consul
        ? new ConsulRegistry(Options.RegistryEndpoints, Options.ConsulToken, timeProvider: Time)
        : new EtcdRegistry(Options.RegistryEndpoints, timeProvider: Time);

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }
}
