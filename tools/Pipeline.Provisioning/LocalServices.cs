using System.Net;

namespace Pipeline.Provisioning;

/// <summary>
/// Makes sure the services a build needs answer: the Docker engine, the image registry, etcd and (when asked for)
/// Prometheus. When one on this
/// machine's loopback (or the default Docker socket) does not answer, it installs the Debian packages that are
/// missing (root + apt-get only) and starts it detached, with its data and log under
/// <see cref="LocalServicesOptions.StateDirectory"/>. Services that answer are left alone; other addresses are only
/// checked. An etcd this run brings up gets authentication (see <see cref="LocalServicesOptions.EtcdAuthentication"/>);
/// one that already ran without it is left so (and said so) unless <see cref="LocalServicesOptions.SecureExistingEtcd"/>.
/// Knows nothing of Cake.
/// </summary>
public sealed class LocalServices
{
    private readonly ICommandRunner _runner;
    private readonly IServiceProbe _probe;
    private readonly IEtcdSecurity _etcdSecurity;
    private readonly HostFacts _host;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;

    /// <summary>Creates the provisioner from its ports.</summary>
    /// <param name="runner">Runs apt-get and starts the daemons.</param>
    /// <param name="probe">Checks whether a service answers.</param>
    /// <param name="etcdSecurity">Turns etcd's authentication on.</param>
    /// <param name="host">What the machine allows (root, Debian, apt-get).</param>
    /// <param name="log">Receives one line per thing done or found.</param>
    /// <param name="time">The clock for start timeouts; the system clock by default.</param>
    public LocalServices(ICommandRunner runner, IServiceProbe probe, IEtcdSecurity etcdSecurity, HostFacts host, Action<string> log, TimeProvider? time = null)
    {
        _runner = runner;
        _probe = probe;
        _etcdSecurity = etcdSecurity;
        _host = host;
        _log = log;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A provisioner for this machine: real processes, real probes.</summary>
    public static LocalServices ForThisMachine(Action<string> log)
    {
        var runner = new ProcessCommandRunner();
        return new LocalServices(runner, new HttpServiceProbe(), new EtcdGatewaySecurity(), HostFacts.Detect(runner), log);
    }

    /// <summary>
    /// Checks every service; installs and starts the local ones that do not answer; returns what it found and did.
    /// </summary>
    /// <exception cref="ProvisioningException">A service does not answer and cannot be started here; the message
    /// names it and says how to start it (or where to point the build instead).</exception>
    public async Task<LocalServicesReport> EnsureAsync(LocalServicesOptions options, CancellationToken ct = default)
    {
        options.Validate();
        var started = _time.GetTimestamp();
        var services = Describe(options);
        var probes = await Task.WhenAll(services.Select(s => s.Probe(_probe, options, ct))).ConfigureAwait(false);

        var statuses = new List<ServiceStatus>();
        var down = new List<(LocalService Service, ProbeResult Probe)>();
        foreach (var (service, probe) in services.Zip(probes))
        {
            if (probe.Reachable)
            {
                _log($"{service.Name} at {service.Address} answers ({service.Describe(probe)}); left as it is.");
                statuses.Add(new ServiceStatus(service.Name, service.Address, ServiceAction.AlreadyRunning, service.Describe(probe)));
            }
            else
            {
                down.Add((service, probe));
            }
        }

        var remote = down.Where(d => !d.Service.IsLocal).ToList();
        if (remote.Count > 0)
        {
            throw new ProvisioningException(string.Join("\n", remote.Select(d =>
                $"{d.Service.Name} at {d.Service.Address} does not answer ({d.Probe.Detail}). It is not on this machine's loopback, so the build only checks it: start it there, or point {d.Service.OptionHint} at one that runs.")));
        }

        var toStart = down.Select(d => d.Service).ToList();
        foreach (var (service, probe) in down)
        {
            _log($"{service.Name} at {service.Address} does not answer ({probe.Detail}); the build provisions it.");
        }

        var missingTools = options.Tools.Where(t => _runner.FindExecutable(t.Key) is null).Select(t => t.Value);
        var packages = toStart.Where(s => _runner.FindExecutable(s.Program) is null).SelectMany(s => s.Packages)
            .Concat(missingTools).Distinct().ToList();
        var installed = new List<string>();
        var whyNot = !options.AllowInstall ? "installing is switched off" : _host.WhyNoInstall;
        var cannotStart = toStart.Where(s => _runner.FindExecutable(s.Program) is null && whyNot is not null)
            .Concat(toStart.Where(s => s.NeedsRoot && !_host.IsRoot)).Distinct().ToList();
        if (cannotStart.Count > 0)
        {
            throw new ProvisioningException(ManualStartMessage(cannotStart, whyNot ?? _host.WhyNoInstall ?? "it needs root", options));
        }

        if (packages.Count > 0)
        {
            if (whyNot is not null)
            {
                _log($"Not installing {string.Join(", ", packages)}: {whyNot}. Base images that are missing cannot be built here until you run: apt-get install -y {string.Join(' ', packages)}");
            }
            else
            {
                await InstallAsync(packages, ct).ConfigureAwait(false);
                installed.AddRange(packages);
                toStart = await DropThoseNowAnsweringAsync(toStart, options, statuses, ct).ConfigureAwait(false);
            }
        }

        var running = new List<(LocalService Service, int Pid, string Log)>();
        foreach (var service in toStart)
        {
            running.Add(await StartAsync(service, options, ct).ConfigureAwait(false));
        }

        var waited = await Task.WhenAll(running.Select(r => WaitUntilAnsweringAsync(r.Service, r.Pid, r.Log, options, ct))).ConfigureAwait(false);
        statuses.AddRange(waited);
        var etcd = services.Single(s => s.Program == "etcd");
        var etcdPasswordFile = etcd.IsLocal
            ? await SecureEtcdAsync(options, broughtUp: down.Any(d => d.Service == etcd), ct).ConfigureAwait(false)
            : null;

        var elapsed = _time.GetElapsedTime(started);
        _log(toStart.Count == 0 && installed.Count == 0
            ? $"Local services checked in {elapsed.TotalMilliseconds:0} ms."
            : $"Local services ready in {elapsed.TotalSeconds:0.0} s (data and logs under {options.StateDirectory}).");
        return new LocalServicesReport(statuses, installed, elapsed, etcdPasswordFile);
    }

    /// <summary>
    /// Turns authentication on in an etcd this run brought up (or any local one when told to); returns the pipeline
    /// user's password file when etcd has authentication on and the file is there.
    /// </summary>
    private async Task<string?> SecureEtcdAsync(LocalServicesOptions options, bool broughtUp, CancellationToken ct)
    {
        if (!options.EtcdAuthentication)
        {
            return null;
        }

        var etcd = options.Etcd;
        var user = LocalServicesOptions.EtcdUser;
        if (await _etcdSecurity.IsAuthenticationOnAsync(etcd, options.ProbeTimeout, ct).ConfigureAwait(false))
        {
            if (File.Exists(options.EtcdPasswordFile))
            {
                _log($"etcd at {etcd} has authentication on; the pipeline's user '{user}' has its password in {options.EtcdPasswordFile}.");
                return options.EtcdPasswordFile;
            }

            _log($"etcd at {etcd} has authentication on, and {options.EtcdPasswordFile} does not exist: give the pipeline an etcd user with PIPELINE_ETCD_USERNAME and PIPELINE_ETCD_PASSWORD (or PIPELINE_ETCD_PASSWORD_FILE).");
            return null;
        }

        if (!broughtUp && !options.SecureExistingEtcd)
        {
            _log($"etcd at {etcd} runs without authentication (it ran before this build): whoever reaches it can write the deploy journal. "
                + "It is left so, because turning authentication on makes every client without credentials fail; turn it on with --secure-etcd=true.");
            return null;
        }

        var accounts = ReadOrCreateAccounts(options);
        await _etcdSecurity.EnableAuthenticationAsync(etcd, accounts, options.ProbeTimeout * 5, ct).ConfigureAwait(false);
        _log($"Turned authentication on in etcd at {etcd}: users root and '{user}' (role '{user}': read and write every key); their passwords are in {options.SecretsDirectory} (owner only).");
        return options.EtcdPasswordFile;
    }

    /// <summary>The passwords in the secrets folder; each one generated (32 random bytes) the first time and kept.</summary>
    private static EtcdAccounts ReadOrCreateAccounts(LocalServicesOptions options)
    {
        try
        {
            var ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(options.SecretsDirectory);
            }
            else
            {
                Directory.CreateDirectory(options.SecretsDirectory, ownerOnly);
                File.SetUnixFileMode(options.SecretsDirectory, ownerOnly);
            }

            return new EtcdAccounts(ReadOrCreate(options.EtcdRootPasswordFile), LocalServicesOptions.EtcdUser, ReadOrCreate(options.EtcdPasswordFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProvisioningException($"Could not keep etcd's passwords in {options.SecretsDirectory}: {e.Message} Choose a writable folder with --state-dir.", e);
        }

        static string ReadOrCreate(string file)
        {
            if (File.Exists(file))
            {
                return File.ReadAllText(file).TrimEnd('\r', '\n');
            }

            var password = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var write = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                write.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var stream = new FileStream(file, write);
            using var writer = new StreamWriter(stream);
            writer.Write(password + "\n");
            return password;
        }
    }

    private async Task InstallAsync(IReadOnlyList<string> packages, CancellationToken ct)
    {
        var env = new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" };
        _log("Running apt-get update (once) to install missing packages…");
        (await _runner.RunAsync("apt-get", ["update"], env, null, ct).ConfigureAwait(false)).EnsureSuccess("Updating the package lists");
        _log($"Installing {string.Join(", ", packages)} with apt-get…");
        var plain = packages.Where(p => !PrometheusService.PackagesWithoutRecommends.Contains(p)).ToList();
        var bare = packages.Where(PrometheusService.PackagesWithoutRecommends.Contains).ToList();
        foreach (var (group, flags) in new[] { (plain, Array.Empty<string>()), (bare, ["--no-install-recommends"]) })
        {
            if (group.Count > 0)
            {
                string[] args = ["install", "-y", .. flags, .. group];
                (await _runner.RunAsync("apt-get", args, env, null, ct).ConfigureAwait(false)).EnsureSuccess($"Installing {string.Join(", ", group)}");
            }
        }

        _log($"Installed {string.Join(", ", packages)}.");
    }

    private async Task<List<LocalService>> DropThoseNowAnsweringAsync(List<LocalService> toStart, LocalServicesOptions options, List<ServiceStatus> statuses, CancellationToken ct)
    {
        // A package's own init script may have started the service already: leave it to the package then.
        var still = new List<LocalService>();
        foreach (var service in toStart)
        {
            var probe = await service.Probe(_probe, options, ct).ConfigureAwait(false);
            if (probe.Reachable)
            {
                _log($"{service.Name} at {service.Address} answers after installing its package ({service.Describe(probe)}); left as it is.");
                statuses.Add(new ServiceStatus(service.Name, service.Address, ServiceAction.AlreadyRunning, service.Describe(probe)));
            }
            else
            {
                still.Add(service);
            }
        }

        return still;
    }

    private async Task<(LocalService Service, int Pid, string Log)> StartAsync(LocalService service, LocalServicesOptions options, CancellationToken ct)
    {
        var logFile = Path.Combine(options.LogDirectory, service.LogName + ".log");
        try
        {
            Directory.CreateDirectory(options.LogDirectory);
            Directory.CreateDirectory(Path.Combine(options.StateDirectory, "run"));
            var arguments = service.Prepare(options);
            var pid = await _runner.StartDetachedAsync(service.Program, arguments, logFile, ct).ConfigureAwait(false);
            var pidFile = Path.Combine(options.StateDirectory, "run", service.LogName + ".pid");
            File.WriteAllText(pidFile, pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
            _log($"Started {ProcessCommandRunner.Format(service.Program, arguments)} (pid {pid}, detached); {service.DataDescription(options)}log: {logFile}; stop it with: kill $(cat {pidFile})");
            return (service, pid, logFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProvisioningException($"Could not prepare {service.Name} under {options.StateDirectory}: {e.Message}. Choose a writable folder with --state-dir.", e);
        }
    }

    private async Task<ServiceStatus> WaitUntilAnsweringAsync(LocalService service, int pid, string logFile, LocalServicesOptions options, CancellationToken ct)
    {
        var since = _time.GetTimestamp();
        var last = ProbeResult.Down("not checked yet");
        long? exitedAt = null;
        while (true)
        {
            last = await service.Probe(_probe, options, ct).ConfigureAwait(false);
            if (last.Reachable)
            {
                if (exitedAt is not null)
                {
                    _log($"{service.Name} at {service.Address} answers ({service.Describe(last)}), started by another process (a package's init script?); ours (pid {pid}) exited, see {logFile}.");
                    return new ServiceStatus(service.Name, service.Address, ServiceAction.AlreadyRunning, service.Describe(last));
                }

                _log($"{service.Name} at {service.Address} answers ({service.Describe(last)}) after {_time.GetElapsedTime(since).TotalSeconds:0.0} s.");
                return new ServiceStatus(service.Name, service.Address, ServiceAction.Started, service.Describe(last), pid, logFile);
            }

            if (!_runner.IsRunning(pid))
            {
                exitedAt ??= _time.GetTimestamp();
                if (_time.GetElapsedTime(exitedAt.Value) >= options.ExitGracePeriod)
                {
                    throw new ProvisioningException($"{service.Name} ({service.Program}, pid {pid}) exited before answering at {service.Address} ({last.Detail}). Its log {logFile} ends with:{ProvisioningException.Indent(Tail(logFile))}");
                }
            }

            if (_time.GetElapsedTime(since) >= options.StartTimeout)
            {
                throw new ProvisioningException($"{service.Name} ({service.Program}, pid {pid}) did not answer at {service.Address} within {options.StartTimeout.TotalSeconds:0.#} s ({last.Detail}); it still runs. Its log {logFile} ends with:{ProvisioningException.Indent(Tail(logFile))}");
            }

            await Task.Delay(options.PollInterval, _time, ct).ConfigureAwait(false);
        }
    }

    private static string Tail(string logFile)
    {
        try
        {
            var lines = File.ReadAllLines(logFile);
            return lines.Length == 0 ? "(empty)" : string.Join('\n', lines.TakeLast(20));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    private static string ManualStartMessage(IReadOnlyList<LocalService> services, string why, LocalServicesOptions options) =>
        $"Cannot provision {string.Join(", ", services.Select(s => $"the {s.Name} at {s.Address}"))}: {why}. Start {(services.Count == 1 ? "it" : "them")} yourself, then run the build again:\n"
        + string.Join('\n', services.Select(s => $"  - {s.Name}: {s.ManualStart(options)}"))
        + "\nOr point the build at services that run elsewhere: DOCKER_HOST=..., --image-registry=HOST:PORT, --etcd=URL.";

    internal static IReadOnlyList<LocalService> Describe(LocalServicesOptions options)
    {
        var registryUrl = options.ImageRegistryUrl;
        var etcd = options.Etcd;
        var etcdPeer = $"{etcd.Scheme}://{etcd.Host}:{etcd.Port + 1}";
        var etcdClient = $"{etcd.Scheme}://{etcd.Host}:{etcd.Port}";
        var dockerLocal = options.Docker.Host.Scheme == "unix"
            && options.Docker.Host.LocalPath is "/var/run/docker.sock" or "/run/docker.sock";
        var registryDir = Path.Combine(options.StateDirectory, "docker-registry");
        var etcdDir = Path.Combine(options.StateDirectory, "etcd");

        LocalService[] services =
        [
            new LocalService(
                Name: "Docker engine",
                Address: options.Docker.ToString(),
                IsLocal: dockerLocal,
                Program: "dockerd",
                Packages: ["docker.io", "containerd", "runc"],
                LogName: "dockerd",
                NeedsRoot: true,
                OptionHint: "DOCKER_HOST",
                Probe: (p, o, ct) => p.PingDockerAsync(o.Docker, o.ProbeTimeout, ct),
                Describe: r => r.Detail,
                Prepare: _ => [],
                DataDescription: _ => "data: /var/lib/docker; ",
                ManualStart: _ => "install Docker Engine (Debian: apt-get install -y docker.io containerd runc) and start it as root: systemctl start docker, or without systemd: setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &"),
            new LocalService(
                Name: "image registry",
                Address: options.ImageRegistry,
                IsLocal: IsLoopback(registryUrl.Host),
                Program: "docker-registry",
                Packages: ["docker-registry"],
                LogName: "docker-registry",
                NeedsRoot: false,
                OptionHint: "--image-registry=HOST:PORT",
                Probe: (p, o, ct) => p.CheckImageRegistryAsync(o.ImageRegistry, o.ProbeTimeout, ct),
                Describe: r => r.Detail,
                Prepare: o => ["serve", WriteRegistryConfig(o, registryDir)],
                DataDescription: _ => $"config: {Path.Combine(registryDir, "config.yml")}, data: {Path.Combine(registryDir, "data")}; ",
                ManualStart: o => $"install docker-registry (Debian: apt-get install -y docker-registry), write a config with `http: {{addr: {o.ImageRegistry}}}`, `storage: {{filesystem: {{rootdirectory: {Path.Combine(registryDir, "data")}}}, delete: {{enabled: true}}}}`, then: setsid docker-registry serve CONFIG >registry.log 2>&1 < /dev/null &"),
            new LocalService(
                Name: "etcd",
                Address: etcd.ToString(),
                IsLocal: IsLoopback(etcd.Host) && etcd.Scheme == Uri.UriSchemeHttp,
                Program: "etcd",
                Packages: ["etcd-server", "etcd-client"],
                LogName: "etcd",
                NeedsRoot: false,
                OptionHint: "--etcd=URL",
                Probe: (p, o, ct) => p.CheckEtcdAsync(o.Etcd, o.ProbeTimeout, ct),
                Describe: r => r.Detail,
                Prepare: _ =>
                {
                    Directory.CreateDirectory(etcdDir);
                    return
                    [
                        "--name", "pipeline-local",
                        "--data-dir", etcdDir,
                        "--listen-client-urls", etcdClient,
                        "--advertise-client-urls", etcdClient,
                        "--listen-peer-urls", etcdPeer,
                        "--initial-advertise-peer-urls", etcdPeer,
                        "--initial-cluster", $"pipeline-local={etcdPeer}",
                        .. options.EtcdAuthTokenTtl is { } ttl
                            ? new[] { "--auth-token-ttl", ((int)Math.Ceiling(ttl.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture) }
                            : [],
                    ];
                },
                DataDescription: _ => $"data: {etcdDir}; ",
                ManualStart: _ => $"install etcd (Debian: apt-get install -y etcd-server etcd-client), then: setsid etcd --data-dir DIR --listen-client-urls {etcdClient} --advertise-client-urls {etcdClient} --listen-peer-urls {etcdPeer} --initial-advertise-peer-urls {etcdPeer} --initial-cluster default={etcdPeer} >etcd.log 2>&1 < /dev/null &"),
        ];
        return options.Prometheus is null ? services : [.. services, PrometheusService.Describe(options, options.Prometheus)];
    }

    /// <summary>Writes the registry's configuration (filesystem storage, deletes allowed, listening on the configured address); returns its path.</summary>
    internal static string WriteRegistryConfig(LocalServicesOptions options, string registryDir)
    {
        var data = Path.Combine(registryDir, "data");
        Directory.CreateDirectory(data);
        var config = Path.Combine(registryDir, "config.yml");
        File.WriteAllText(config, $"""
            # Written by Pipeline's LocalServices: the image registry for local builds.
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: {data}
              delete:
                enabled: true
            http:
              addr: {options.ImageRegistry}
            """ + "\n");
        return config;
    }

    internal static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}

/// <summary>One service the build needs, and how to check, install and start it.</summary>
internal sealed record LocalService(
    string Name,
    string Address,
    bool IsLocal,
    string Program,
    IReadOnlyList<string> Packages,
    string LogName,
    bool NeedsRoot,
    string OptionHint,
    Func<IServiceProbe, LocalServicesOptions, CancellationToken, Task<ProbeResult>> Probe,
    Func<ProbeResult, string> Describe,
    Func<LocalServicesOptions, IReadOnlyList<string>> Prepare,
    Func<LocalServicesOptions, string> DataDescription,
    Func<LocalServicesOptions, string> ManualStart);

/// <summary>What <see cref="LocalServices.EnsureAsync"/> found and did.</summary>
/// <param name="Services">Each service, whether it already ran or was started.</param>
/// <param name="InstalledPackages">Debian packages installed by this call.</param>
/// <param name="Elapsed">How long the call took.</param>
/// <param name="EtcdPasswordFile">The password file of the pipeline's etcd user (<see cref="LocalServicesOptions.EtcdUser"/>) when etcd has authentication on and the file is there; null otherwise.</param>
public sealed record LocalServicesReport(IReadOnlyList<ServiceStatus> Services, IReadOnlyList<string> InstalledPackages, TimeSpan Elapsed, string? EtcdPasswordFile = null);

/// <summary>One service after provisioning.</summary>
/// <param name="Name">What it is (e.g. <c>etcd</c>).</param>
/// <param name="Address">Where it answers.</param>
/// <param name="Action">Whether it already ran or was started.</param>
/// <param name="Detail">Its answer (API version, etcd version).</param>
/// <param name="ProcessId">The started process, when started.</param>
/// <param name="LogFile">The started process's log, when started.</param>
public sealed record ServiceStatus(string Name, string Address, ServiceAction Action, string Detail, int? ProcessId = null, string? LogFile = null);

/// <summary>What was done about a service.</summary>
public enum ServiceAction
{
    /// <summary>It answered; nothing was done.</summary>
    AlreadyRunning,

    /// <summary>It was started (and installed first when its program was missing).</summary>
    Started,
}
