using System.Runtime.InteropServices;
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
/// What every stage shares: <see cref="Options"/> (inputs, validated once), <see cref="State"/> (what stages
/// found and made), the <see cref="Journal"/>, a <see cref="CancellationToken"/> wired to Ctrl-C and SIGTERM,
/// and the adapters (engines, service registry, proxy), created on first use from the options.
/// Register options from code with <c>ConfigureServices(s =&gt; s.AddSingleton(new DeploymentOptions { … }))</c>.
/// </summary>
public class DeploymentContext : FrostingContext, IDisposable
{
    private readonly DeploymentOptions _fromCode;
    private readonly CancellationTokenSource _cancellation = new();
    private readonly List<IDisposable> _owned = [];
    private readonly PosixSignalRegistration? _sigterm;
    private DeploymentOptions? _options;
    private IDockerEngine? _cdEngine;
    private IDockerEngine? _productionEngine;
    private IServiceRegistry? _serviceRegistry;
    private IProxy? _proxy;
    private Task<RollbackReport>? _rollback;
    private DeploymentLock? _lock;

    /// <summary>Creates the context; options from code are merged with the environment and command line on first use.</summary>
    public DeploymentContext(ICakeContext context, DeploymentOptions? options = null)
        : base(context)
    {
        _fromCode = options ?? new DeploymentOptions();
        DeployId = $"{DateTime.UtcNow:yyyyMMddHHmmss}-{Guid.NewGuid().ToString("N")[..6]}";
        Console.CancelKeyPress += OnCancelKeyPress;
        _sigterm = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
        {
            signal.Cancel = true;
            _cancellation.Cancel();
        });
    }

    /// <summary>The validated options. The first access resolves and validates them; bad values throw <see cref="InvalidOptionsException"/> before any engine is touched.</summary>
    public DeploymentOptions Options => _options ??= OptionResolver.Resolve(
        _fromCode,
        name => !Arguments.HasArgument(name) ? null
            : OptionResolver.IsRepeatable(name) ? string.Join(',', Arguments.GetArguments(name)) : Arguments.GetArgument(name),
        System.Environment.GetEnvironmentVariable,
        Environment.WorkingDirectory.FullPath);

    /// <summary>This run's id: labels and history carry it.</summary>
    public string DeployId { get; }

    /// <summary>The service this run deploys.</summary>
    public string Service => Options.Service!;

    /// <summary>The version this run deploys.</summary>
    public string Version => Options.Version!;

    /// <summary>What the stages found and made.</summary>
    public DeploymentState State { get; } = new();

    /// <summary>Cancelled by Ctrl-C or SIGTERM. Undo steps do not use it: they get their own timeout.</summary>
    public CancellationToken CancellationToken => _cancellation.Token;

    /// <summary>The engine that runs tests, builds and pushes.</summary>
    public IDockerEngine CdEngine => _cdEngine ??= Own(new DockerEngine(Options.CdEngine));

    /// <summary>The engine that runs releases and the proxy.</summary>
    public IDockerEngine ProductionEngine => _productionEngine ??=
        Options.ProductionEngine == Options.CdEngine ? CdEngine : Own(new DockerEngine(Options.ProductionEngine));

    /// <summary>The service registry (etcd or Consul).</summary>
    public IServiceRegistry ServiceRegistry => _serviceRegistry ??= Own<IServiceRegistry>(Options.RegistryKind == "consul"
        ? new ConsulRegistry(Options.RegistryEndpoints, Options.ConsulToken)
        : new EtcdRegistry(Options.RegistryEndpoints));

    /// <summary>Pipeline's keys in the service registry.</summary>
    public ServiceCatalog Catalog => new(ServiceRegistry, Options.KeyPrefix);

    /// <summary>The write-ahead journal of this service's deploy.</summary>
    public DeploymentJournal Journal => new(ServiceRegistry, Options.KeyPrefix, Service);

    /// <summary>The proxy in front of every service.</summary>
    public IProxy Proxy => _proxy ??= Own(ProxyFactory.Create(
        new ProxyOptions
        {
            Kind = Options.ProxyKind,
            ContainerName = Options.ProxyContainer,
            Image = Options.ProxyImage,
            Network = Options.Network,
            ListenAddress = Options.ProxyAddress,
            ListenPort = Options.ProxyPort,
            TemplatePath = Options.ProxyTemplate,
        },
        ProductionEngine));

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
    /// Unwinds the journal (the first call does the work; later calls return the same report), so every
    /// failing stage's handler can call it.
    /// </summary>
    public Task<RollbackReport> RollbackAsync() => _rollback ??= CreateRollbackRunner().RunAsync();

    /// <summary>A runner for this service's journal (also used to recover the journal of a dead run).</summary>
    internal RollbackRunner CreateRollbackRunner() => new(
        Journal, ProductionEngine, ServiceRegistry, RestoreProxyAsync, Options.UndoTimeout, line => Log.Information(line));

    /// <summary>
    /// Takes the proxy's lock (<c>{prefix}/locks/proxy/{container}</c>): one service at a time renders, applies and
    /// confirms the shared proxy's config, so concurrent deploys of different services never overwrite each other's routes.
    /// </summary>
    public Task<DeploymentLock> AcquireProxyLockAsync(CancellationToken ct = default) => DeploymentLock.AcquireAsync(
        ServiceRegistry,
        Options.KeyPrefix,
        LockHolder.ForThisProcess($"proxy/{Options.ProxyContainer}", DeployId, Options.LockTtl),
        Options.LockTtl,
        Options.LockTimeout,
        ct: ct);

    /// <summary>The proxy config for every service's live release in the registry, rendered with this run's template.</summary>
    public async Task<string> RenderProxyFromRegistryAsync(CancellationToken ct = default) =>
        Proxy.Render((await Catalog.GetLiveReleasesAsync(ct))
            .Select(r => new ProxyRoute(r.Service, r.Route, r.HostName, r.Color, r.Version, [new UpstreamEndpoint(r.Address, r.Port)]))
            .ToList());

    /// <summary>
    /// Applies <paramref name="config"/> when it differs from the live one (the proxy validates it first and keeps
    /// the live one when it is rejected). Call it holding the proxy lock.
    /// </summary>
    public async Task ApplyProxyConfigAsync(string config, CancellationToken ct = default)
    {
        if (await Proxy.ReadLiveConfigAsync(ct) != config)
        {
            await Proxy.ApplyAsync(config, ct);
        }
    }

    private async Task RestoreProxyAsync(string? exactConfig, CancellationToken ct)
    {
        await using var proxyLock = await AcquireProxyLockAsync(ct);
        await ApplyProxyConfigAsync(exactConfig ?? await RenderProxyFromRegistryAsync(ct), ct);
    }

    /// <summary>This run's hold on the service's deploy lock, or null while it holds none (before AcquireLock, after release).</summary>
    public DeploymentLock? Lock => _lock;

    /// <summary>
    /// Takes the service's deploy lock (waiting up to <see cref="DeploymentOptions.LockTimeout"/>), bound to a lease of
    /// <see cref="DeploymentOptions.LockTtl"/>. If the lock is lost while held, the run is cancelled (and so rolls back).
    /// </summary>
    /// <exception cref="DeploymentLockedException">Another run held the lock for the whole timeout.</exception>
    public async Task AcquireLockAsync(CancellationToken ct = default)
    {
        if (_lock is not null)
        {
            return;
        }

        var holder = LockHolder.ForThisProcess(Service, DeployId, Options.LockTtl);
        _lock = await DeploymentLock.AcquireAsync(
            ServiceRegistry,
            Options.KeyPrefix,
            holder,
            Options.LockTtl,
            Options.LockTimeout,
            onWaiting: other => Log.Information(
                $"{Service} is being deployed by {other.Describe(DateTimeOffset.UtcNow)}; waiting up to {Options.LockTimeout.TotalSeconds:0} s for its lock."),
            ct: ct);
        var held = _lock;
        var acquiredAt = DateTime.UtcNow;
        held.Lost.Register(() =>
        {
            Log.Error($"{held.LostReason} Stopping this run: its changes are rolled back.");
            _cancellation.Cancel();
        });
        Log.Information($"Took the deploy lock {held.Key} for deploy {DeployId} at {acquiredAt:yyyy-MM-ddTHH:mm:ss.fffZ} (lease {held.LeaseId:x}, TTL {held.Holder.TtlSeconds} s).");
    }

    /// <summary>Releases the deploy lock if this run holds it; calling it again (or without a lock) does nothing. Never throws: a lock that cannot be released expires within its TTL.</summary>
    public async Task ReleaseLockAsync()
    {
        if (Interlocked.Exchange(ref _lock, null) is not { } held)
        {
            return;
        }

        // Logged times bound the hold from inside: taken after the lock is ours, released before it is given up.
        var releasingAt = DateTime.UtcNow;
        try
        {
            using var timeout = new CancellationTokenSource(Options.UndoTimeout);
            await held.ReleaseAsync(timeout.Token);
            Log.Information($"Released the deploy lock {held.Key} of deploy {DeployId} at {releasingAt:yyyy-MM-ddTHH:mm:ss.fffZ}.");
        }
        catch (Exception e) when (e is ServiceRegistryException or OperationCanceledException)
        {
            Log.Warning($"Could not release the deploy lock {held.Key} ({e.Message}); it expires within {held.Holder.TtlSeconds} s.");
        }
        finally
        {
            await held.DisposeAsync();
        }
    }

    /// <summary>Captures the service's production state (see <see cref="ProductionSnapshot"/>).</summary>
    public Task<ProductionSnapshot> CaptureSnapshotAsync(CancellationToken ct = default) =>
        ProductionSnapshot.CaptureAsync(Service, Options.KeyPrefix, Options.Network, ProductionEngine, ServiceRegistry, Proxy, ct);

    /// <inheritdoc />
    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _sigterm?.Dispose();
        ReleaseLockAsync().GetAwaiter().GetResult();
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        _cancellation.Dispose();
        GC.SuppressFinalize(this);
    }

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        Log.Warning("Cancelling: the current stage stops and the rollback runs.");
        _cancellation.Cancel();
    }
}
