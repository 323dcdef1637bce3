using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Docker;

namespace Pipeline.Provisioning.Swarm;

/// <summary>
/// Makes (and tears down) a real multi-node Docker Swarm on this machine for tests: one Linux bridge with its own
/// /24, one network namespace per node wired to it by a veth pair, one dockerd per node started with
/// <c>nsenter --net=</c> in its own UTS namespace (distinct host names) with its own data root, exec root, pid file
/// and socket; node 1 is the manager and serves the Engine API on TCP with mutual TLS from a local CA. An image
/// registry on the bridge address serves HTTPS with a certificate from the same CA, trusted by every dockerd on the
/// machine through <c>/etc/docker/certs.d</c> (read at each pull and push, so the shared engine needs no restart).
/// Idempotent: what is healthy is left alone and every step says what it found or did. Needs root.
/// </summary>
public sealed class LocalSwarm
{
    private const string RuleComment = "pipeline-swarm";
    private readonly ICommandRunner _runner;
    private readonly IServiceProbe _probe;
    private readonly IDockerEngine _cdEngine;
    private readonly Action<string> _log;
    private readonly TimeProvider _time;

    /// <summary>Creates the provisioner from its ports.</summary>
    /// <param name="runner">Runs ip, iptables, nsenter, dockerd, docker-registry and the docker CLI.</param>
    /// <param name="probe">Checks whether a dockerd answers.</param>
    /// <param name="cdEngine">The CD engine: it pushes the probe image to the swarm's registry.</param>
    /// <param name="log">Receives one line per thing found or done.</param>
    /// <param name="time">The clock for timeouts; the system clock by default.</param>
    public LocalSwarm(ICommandRunner runner, IServiceProbe probe, IDockerEngine cdEngine, Action<string> log, TimeProvider? time = null)
    {
        _runner = runner;
        _probe = probe;
        _cdEngine = cdEngine;
        _log = log;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A provisioner for this machine: real processes, real probes.</summary>
    public static LocalSwarm ForThisMachine(IDockerEngine cdEngine, Action<string> log) =>
        new(new ProcessCommandRunner(), new HttpServiceProbe(), cdEngine, log);

    /// <summary>The endpoint of the manager's Engine API over mutual TLS (what DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH say).</summary>
    public static DockerEndpoint ManagerEndpoint(LocalSwarmOptions options) => new(options.ManagerApi, true, options.ClientCertPath);

    /// <summary>
    /// Makes sure the swarm is up and healthy: certificates, bridge, forwarding rule, namespaces, registry, one dockerd
    /// per node, the swarm itself (every node Ready and active), the attachable overlay network and the probe image on
    /// every node. Returns what it found and what it changed (nothing when everything was healthy).
    /// </summary>
    /// <exception cref="ProvisioningException">A step failed; the message says which, why, and where the log is.</exception>
    public async Task<LocalSwarmReport> EnsureAsync(LocalSwarmOptions options, CancellationToken ct = default)
    {
        options.Validate();
        var started = _time.GetTimestamp();
        RequireRootAndPrograms();
        Directory.CreateDirectory(options.StateDirectory);
        using var exclusive = await HoldStateLockAsync(options, ct).ConfigureAwait(false);
        var changes = new List<string>();

        var certificates = EnsureCertificates(options, changes);
        await EnsureBridgeAsync(options, changes, ct).ConfigureAwait(false);
        var chain = await EnsureForwardingRuleAsync(options, changes, ct).ConfigureAwait(false);
        foreach (var node in options.AllNodes)
        {
            await EnsureNamespaceAsync(options, node, changes, ct).ConfigureAwait(false);
        }

        var registryPid = await EnsureRegistryAsync(options, certificates.RegistryReissued, changes, ct).ConfigureAwait(false);
        var pids = await EnsureDaemonsAsync(options, certificates.ManagerReissued, changes, ct).ConfigureAwait(false);
        var nodeIds = await EnsureSwarmAsync(options, changes, ct).ConfigureAwait(false);
        await EnsureClusterOverTlsAsync(options, changes, ct).ConfigureAwait(false);
        await EnsureImageInRegistryAsync(options, options.ProbeImageSource, options.ProbeImage, options.AllNodes, changes, ct).ConfigureAwait(false);
        await EnsureImageInRegistryAsync(options, options.ProxyImageSource, options.ProxyImage, [options.Node(1)], changes, ct).ConfigureAwait(false);

        var elapsed = _time.GetElapsedTime(started);
        var report = new LocalSwarmReport(
            options.AllNodes.Select(n => new LocalSwarmNodeStatus(n, pids[n.Number], nodeIds[n.Number])).ToList(),
            options.Bridge,
            options.BridgeAddress.ToString(),
            chain,
            options.Registry,
            registryPid,
            ManagerEndpoint(options),
            options.OverlayNetwork,
            options.ProbeImage,
            changes,
            elapsed)
        {
            ProxyImage = options.ProxyImage,
        };
        _log(changes.Count == 0
            ? $"Swarm healthy; nothing changed ({elapsed.TotalSeconds:0.0} s)."
            : $"Swarm ready in {elapsed.TotalSeconds:0.0} s ({changes.Count} change{(changes.Count == 1 ? "" : "s")}).");
        return report;
    }

    /// <summary>
    /// Stops every dockerd and the registry by the pids in their pid files (SIGTERM, then SIGKILL after
    /// <see cref="LocalSwarmOptions.StopTimeout"/>), then deletes the namespaces, veth pairs, the bridge, the forwarding
    /// rule, the registry's CA under <c>/etc/docker/certs.d</c> and the state folder. What is already gone is skipped.
    /// </summary>
    public async Task<LocalSwarmTeardownReport> TeardownAsync(LocalSwarmOptions options, CancellationToken ct = default)
    {
        options.Validate();
        var started = _time.GetTimestamp();
        RequireRootAndPrograms();
        var done = new List<string>();
        using (Directory.Exists(options.StateDirectory) ? await HoldStateLockAsync(options, ct).ConfigureAwait(false) : null)
        {
            var stops = options.AllNodes.Reverse().Select(node => StopDaemonAsync(options, node, done, ct)).ToList();
            await Task.WhenAll(stops).ConfigureAwait(false);
            var registryPidFile = RegistryPidFile(options);
            if (ReadPid(registryPidFile) is { } registryPid
                && await StopProcessAsync($"image registry {options.Registry}", registryPid, RegistryConfigFile(options), options.StopTimeout, ct).ConfigureAwait(false))
            {
                done.Add($"stopped image registry {options.Registry} (pid {registryPid})");
            }

            foreach (var node in options.AllNodes)
            {
                await KillWhatIsLeftInAsync(node, done, ct).ConfigureAwait(false);
            }

            await UnmountUnderAsync(options.StateDirectory, done, ct).ConfigureAwait(false);
        }

        foreach (var node in options.AllNodes)
        {
            if ((await NamespacesAsync(ct).ConfigureAwait(false)).Contains(node.Namespace))
            {
                await MustAsync($"Deleting network namespace {node.Namespace}", "ip", ["netns", "del", node.Namespace], ct).ConfigureAwait(false);
                done.Add($"deleted network namespace {node.Namespace}");
            }

            if ((await RunAsync("ip", ["link", "show", "dev", node.HostInterface], ct).ConfigureAwait(false)).Succeeded)
            {
                await MustAsync($"Deleting veth {node.HostInterface}", "ip", ["link", "del", node.HostInterface], ct).ConfigureAwait(false);
                done.Add($"deleted veth {node.HostInterface}");
            }
        }

        if ((await RunAsync("ip", ["link", "show", "dev", options.Bridge], ct).ConfigureAwait(false)).Succeeded)
        {
            await MustAsync($"Deleting bridge {options.Bridge}", "ip", ["link", "del", options.Bridge], ct).ConfigureAwait(false);
            done.Add($"deleted bridge {options.Bridge} ({options.BridgeAddress}/24)");
        }

        foreach (var chain in new[] { "DOCKER-USER", "FORWARD" })
        {
            while ((await RunAsync("iptables", ["-w", "10", "-D", chain, .. ForwardingRule(options)], ct).ConfigureAwait(false)).Succeeded)
            {
                done.Add($"deleted iptables rule {chain} {string.Join(' ', ForwardingRule(options))}");
            }
        }

        // The CD engine kept the tags it pushed with (the probe and proxy images, and every release a deploy onto this
        // swarm pushed): they name a registry that is gone now.
        var cd = _cdEngine.Endpoint;
        var cdEnvironment = new Dictionary<string, string>
        {
            ["DOCKER_HOST"] = cd.Host.ToString(),
            ["DOCKER_TLS_VERIFY"] = cd.TlsVerify ? "1" : "",
            ["DOCKER_CERT_PATH"] = cd.CertPath ?? "",
            ["DOCKER_CONTEXT"] = "",
        };
        var listed = await _runner.RunAsync("docker", ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], cdEnvironment, null, ct).ConfigureAwait(false);
        var tags = listed.Succeeded
            ? listed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(t => t.StartsWith(options.Registry + "/", StringComparison.Ordinal)).ToList()
            : [options.ProbeImage, options.ProxyImage];
        foreach (var tag in tags)
        {
            if ((await _runner.RunAsync("docker", ["image", "rm", tag], cdEnvironment, null, ct).ConfigureAwait(false)).Succeeded)
            {
                done.Add($"removed the tag {tag} from the CD engine");
            }
        }

        var trusted = Path.Combine(options.DockerCertsDirectory, options.Registry);
        if (Directory.Exists(trusted))
        {
            Directory.Delete(trusted, recursive: true);
            done.Add($"deleted {trusted}");
            if (Directory.Exists(options.DockerCertsDirectory) && !Directory.EnumerateFileSystemEntries(options.DockerCertsDirectory).Any())
            {
                Directory.Delete(options.DockerCertsDirectory);
            }
        }

        if (Directory.Exists(options.StateDirectory))
        {
            try
            {
                Directory.Delete(options.StateDirectory, recursive: true);
                done.Add($"deleted {options.StateDirectory}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ProvisioningException($"Everything was stopped, but {options.StateDirectory} could not be deleted: {e.Message}. Check `grep {options.StateDirectory} /proc/self/mountinfo` for mounts left behind, unmount them, then delete it.", e);
            }
        }

        foreach (var line in done)
        {
            _log(char.ToUpperInvariant(line[0]) + line[1..] + ".");
        }

        var elapsed = _time.GetElapsedTime(started);
        _log(done.Count == 0 ? "No test swarm found; nothing to tear down." : $"Swarm torn down in {elapsed.TotalSeconds:0.0} s.");
        return new LocalSwarmTeardownReport(done, elapsed);
    }

    // ------------------------------------------------------------------ prerequisites

    private void RequireRootAndPrograms()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            throw new ProvisioningException($"The test swarm needs root (network namespaces, a bridge, iptables, dockerd); the build runs as {Environment.UserName}. Run it as root.");
        }

        var missing = new (string Program, string Package)[]
            {
                ("ip", "iproute2"), ("iptables", "iptables"), ("nsenter", "util-linux"), ("unshare", "util-linux"),
                ("dockerd", "docker.io"), ("docker", "docker.io"), ("docker-registry", "docker-registry"),
            }
            .Where(p => _runner.FindExecutable(p.Program) is null)
            .ToList();
        if (missing.Count > 0)
        {
            throw new ProvisioningException(
                $"The test swarm needs {string.Join(", ", missing.Select(m => m.Program))}, which {(missing.Count == 1 ? "is" : "are")} not installed. Install {(missing.Count == 1 ? "it" : "them")}: apt-get install -y {string.Join(' ', missing.Select(m => m.Package).Distinct())} (or run ./build.sh --target=ProvisionLocalServices first).");
        }
    }

    private async Task<IDisposable> HoldStateLockAsync(LocalSwarmOptions options, CancellationToken ct)
    {
        var path = Path.Combine(options.StateDirectory, ".lock");
        var since = _time.GetTimestamp();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (_time.GetElapsedTime(since) < options.StartTimeout * 5)
            {
                await Task.Delay(options.PollInterval * 4, _time, ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new ProvisioningException($"Another process has held {path} for {_time.GetElapsedTime(since).TotalSeconds:0} s (a ProvisionSwarm or TeardownSwarm in progress?); try again when it has finished.", e);
            }
        }
    }

    // ------------------------------------------------------------------ certificates

    private (bool ManagerReissued, bool RegistryReissued) EnsureCertificates(LocalSwarmOptions options, List<string> changes)
    {
        var folder = Path.Combine(options.StateDirectory, "certs");
        var renewBefore = options.CertificateValidity / 10;
        using var authority = LocalCertificateAuthority.LoadOrCreate(folder, "Pipeline test swarm CA", options.CertificateValidity * 2, renewBefore, _time, out var created);
        if (created)
        {
            Change(changes, $"created a local CA: {authority.CertificateFile}");
        }

        var manager = options.Node(1);
        var managerReissued = EnsureServerCertificate(authority, folder, "manager", manager.HostName, [manager.HostName], [manager.Address], options, changes);
        var registryReissued = EnsureServerCertificate(authority, folder, "registry", options.BridgeAddress.ToString(), [], [options.BridgeAddress], options, changes);

        var client = options.ClientCertPath;
        Directory.CreateDirectory(client);
        var clientCert = Path.Combine(client, "cert.pem");
        var clientKey = Path.Combine(client, "key.pem");
        var why = authority.Unusable(clientCert, clientKey, [], [], renewBefore);
        if (why is not null)
        {
            authority.IssueClient("pipeline", options.CertificateValidity, clientCert, clientKey);
            Change(changes, $"issued a client certificate in {client} ({why})");
        }

        var caCopy = Path.Combine(client, "ca.pem");
        var caText = File.ReadAllText(authority.CertificateFile);
        if (!File.Exists(caCopy) || File.ReadAllText(caCopy) != caText)
        {
            File.WriteAllText(caCopy, caText);
        }

        return (managerReissued, registryReissued);
    }

    private bool EnsureServerCertificate(LocalCertificateAuthority authority, string folder, string name, string commonName, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, LocalSwarmOptions options, List<string> changes)
    {
        var cert = Path.Combine(folder, $"{name}.pem");
        var key = Path.Combine(folder, $"{name}-key.pem");
        var why = authority.Unusable(cert, key, dnsNames, addresses, options.CertificateValidity / 10);
        if (why is null)
        {
            return false;
        }

        authority.IssueServer(commonName, dnsNames, addresses, options.CertificateValidity, cert, key);
        Change(changes, $"issued {cert} for {string.Join(", ", dnsNames.Concat(addresses.Select(a => a.ToString())))} ({why})");
        return true;
    }

    // ------------------------------------------------------------------ network

    private async Task EnsureBridgeAsync(LocalSwarmOptions options, List<string> changes, CancellationToken ct)
    {
        var bridge = options.Bridge;
        var cidr = $"{options.BridgeAddress}/24";
        var addresses = (await MustAsync("Listing this machine's addresses", "ip", ["-o", "-4", "addr", "show"], ct).ConfigureAwait(false)).Output;
        var prefix = options.Subnet.Split('/')[0][..^1];
        var taken = addresses.Split('\n').FirstOrDefault(l => l.Contains($"inet {prefix}", StringComparison.Ordinal) && !l.Contains($" {bridge} ", StringComparison.Ordinal) && !l.Contains($" {bridge}\\", StringComparison.Ordinal));
        if (taken is not null)
        {
            throw new ProvisioningException($"Subnet {options.Subnet} is already used on this machine ({taken.Trim()}); choose another subnet for the test swarm.");
        }

        if (!(await RunAsync("ip", ["link", "show", "dev", bridge], ct).ConfigureAwait(false)).Succeeded)
        {
            await MustAsync($"Creating bridge {bridge}", "ip", ["link", "add", bridge, "type", "bridge"], ct).ConfigureAwait(false);
            Change(changes, $"created bridge {bridge}");
        }

        var own = (await MustAsync($"Reading the addresses of {bridge}", "ip", ["-o", "-4", "addr", "show", "dev", bridge], ct).ConfigureAwait(false)).Output;
        if (!own.Contains($"inet {cidr} ", StringComparison.Ordinal))
        {
            await MustAsync($"Giving {bridge} its address", "ip", ["addr", "add", cidr, "dev", bridge], ct).ConfigureAwait(false);
            Change(changes, $"gave bridge {bridge} the address {cidr}");
        }

        var link = (await MustAsync($"Reading {bridge}", "ip", ["-o", "link", "show", "dev", bridge], ct).ConfigureAwait(false)).Output;
        if (!IsUp(link))
        {
            await MustAsync($"Bringing {bridge} up", "ip", ["link", "set", bridge, "up"], ct).ConfigureAwait(false);
            Change(changes, $"brought bridge {bridge} up");
        }
    }

    private static string[] ForwardingRule(LocalSwarmOptions options) =>
        ["-i", options.Bridge, "-o", options.Bridge, "-m", "comment", "--comment", RuleComment, "-j", "ACCEPT"];

    /// <summary>The host dockerd sets the FORWARD policy to DROP, which also drops bridged traffic between the nodes.</summary>
    private async Task<string> EnsureForwardingRuleAsync(LocalSwarmOptions options, List<string> changes, CancellationToken ct)
    {
        var chain = (await RunAsync("iptables", ["-w", "10", "-n", "-L", "DOCKER-USER"], ct).ConfigureAwait(false)).Succeeded ? "DOCKER-USER" : "FORWARD";
        if (!(await RunAsync("iptables", ["-w", "10", "-C", chain, .. ForwardingRule(options)], ct).ConfigureAwait(false)).Succeeded)
        {
            await MustAsync("Allowing forwarding between the nodes", "iptables", ["-w", "10", "-I", chain, .. ForwardingRule(options)], ct).ConfigureAwait(false);
            Change(changes, $"inserted iptables rule {chain} {string.Join(' ', ForwardingRule(options))}");
        }

        return chain;
    }

    private async Task EnsureNamespaceAsync(LocalSwarmOptions options, LocalSwarmNode node, List<string> changes, CancellationToken ct)
    {
        if (!(await NamespacesAsync(ct).ConfigureAwait(false)).Contains(node.Namespace))
        {
            await MustAsync($"Creating network namespace {node.Namespace}", "ip", ["netns", "add", node.Namespace], ct).ConfigureAwait(false);
            Change(changes, $"created network namespace {node.Namespace}");
        }

        var inside = await RunAsync("ip", ["-n", node.Namespace, "-o", "-4", "addr", "show", "dev", "eth0"], ct).ConfigureAwait(false);
        var hostEnd = await RunAsync("ip", ["-o", "link", "show", "dev", node.HostInterface], ct).ConfigureAwait(false);
        var route = await RunAsync("ip", ["-n", node.Namespace, "route", "show", "default"], ct).ConfigureAwait(false);
        if (inside.Succeeded && inside.Output.Contains($"inet {node.Address}/24 ", StringComparison.Ordinal)
            && hostEnd.Succeeded && hostEnd.Output.Contains($"master {options.Bridge} ", StringComparison.Ordinal) && IsUp(hostEnd.Output)
            && route.Output.Contains($"via {options.BridgeAddress} ", StringComparison.Ordinal))
        {
            return;
        }

        await RunAsync("ip", ["link", "del", node.HostInterface], ct).ConfigureAwait(false);
        await RunAsync("ip", ["-n", node.Namespace, "link", "del", "eth0"], ct).ConfigureAwait(false);
        var what = $"Wiring {node.Namespace} to {options.Bridge}";
        await MustAsync(what, "ip", ["link", "add", node.HostInterface, "type", "veth", "peer", "name", "eth0", "netns", node.Namespace], ct).ConfigureAwait(false);
        await MustAsync(what, "ip", ["link", "set", node.HostInterface, "master", options.Bridge, "up"], ct).ConfigureAwait(false);
        await MustAsync(what, "ip", ["-n", node.Namespace, "addr", "add", $"{node.Address}/24", "dev", "eth0"], ct).ConfigureAwait(false);
        await MustAsync(what, "ip", ["-n", node.Namespace, "link", "set", "eth0", "up"], ct).ConfigureAwait(false);
        await MustAsync(what, "ip", ["-n", node.Namespace, "link", "set", "lo", "up"], ct).ConfigureAwait(false);
        await MustAsync(what, "ip", ["-n", node.Namespace, "route", "replace", "default", "via", options.BridgeAddress.ToString()], ct).ConfigureAwait(false);
        Change(changes, $"wired {node.Namespace} to {options.Bridge}: veth {node.HostInterface} ⇄ eth0 {node.Address}/24, default route via {options.BridgeAddress}");
    }

    private async Task<HashSet<string>> NamespacesAsync(CancellationToken ct)
    {
        var list = await MustAsync("Listing network namespaces", "ip", ["netns", "list"], ct).ConfigureAwait(false);
        return list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => l.Split(' ')[0]).ToHashSet(StringComparer.Ordinal);
    }

    private static bool IsUp(string linkLine) =>
        linkLine.IndexOf('<') is var open and >= 0 && linkLine.IndexOf('>', open) is var close and > 0
        && linkLine[(open + 1)..close].Split(',').Contains("UP");

    // ------------------------------------------------------------------ image registry

    private static string RegistryFolder(LocalSwarmOptions options) => Path.Combine(options.StateDirectory, "registry");

    private static string RegistryConfigFile(LocalSwarmOptions options) => Path.Combine(RegistryFolder(options), "config.yml");

    private static string RegistryPidFile(LocalSwarmOptions options) => Path.Combine(RegistryFolder(options), "registry.pid");

    private async Task<int> EnsureRegistryAsync(LocalSwarmOptions options, bool certificateReissued, List<string> changes, CancellationToken ct)
    {
        var certs = Path.Combine(options.StateDirectory, "certs");
        var trusted = Path.Combine(options.DockerCertsDirectory, options.Registry, "ca.crt");
        var ca = await File.ReadAllTextAsync(Path.Combine(certs, "ca.pem"), ct).ConfigureAwait(false);
        if (!File.Exists(trusted) || await File.ReadAllTextAsync(trusted, ct).ConfigureAwait(false) != ca)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(trusted)!);
            await File.WriteAllTextAsync(trusted, ca, ct).ConfigureAwait(false);
            Change(changes, $"wrote the local CA to {trusted} (every dockerd here trusts {options.Registry} with it, without a restart)");
        }

        var config = RegistryConfigFile(options);
        var pidFile = RegistryPidFile(options);
        var data = Path.Combine(RegistryFolder(options), "data");
        Directory.CreateDirectory(data);
        var text = $"""
            # Written by Pipeline's LocalSwarm: the image registry every swarm node (and the CD engine) reaches on the bridge.
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {data}
              delete:
                enabled: true
            http:
              addr: {options.Registry}
              tls:
                certificate: {Path.Combine(certs, "registry.pem")}
                key: {Path.Combine(certs, "registry-key.pem")}
            """ + "\n";
        var configChanged = !File.Exists(config) || await File.ReadAllTextAsync(config, ct).ConfigureAwait(false) != text;
        if (configChanged)
        {
            await File.WriteAllTextAsync(config, text, ct).ConfigureAwait(false);
        }

        if (ReadPid(pidFile) is { } pid && IsOurs(pid, config))
        {
            if (!certificateReissued && !configChanged && await RegistryAnswersAsync(options, ct).ConfigureAwait(false) is null)
            {
                _log($"Image registry {options.Registry} answers over HTTPS (pid {pid}); left as it is.");
                return pid;
            }

            await StopProcessAsync($"image registry {options.Registry}", pid, config, options.StopTimeout, ct).ConfigureAwait(false);
            Change(changes, $"stopped image registry pid {pid} ({(certificateReissued ? "new certificate" : configChanged ? "new configuration" : "it did not answer")})");
        }

        var log = Path.Combine(options.StateDirectory, "logs", "registry.log");
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        var started = await _runner.StartDetachedAsync("docker-registry", ["serve", config], log, ct).ConfigureAwait(false);
        await File.WriteAllTextAsync(pidFile, started.ToString(CultureInfo.InvariantCulture) + "\n", ct).ConfigureAwait(false);
        await WaitUntilAsync($"image registry {options.Registry} (pid {started})", started, log, options, () => RegistryAnswersAsync(options, ct), ct).ConfigureAwait(false);
        Change(changes, $"started image registry https://{options.Registry} (pid {started}, config {config}, log {log})");
        return started;
    }

    /// <summary>Null when the registry answers <c>GET /v2/</c> over HTTPS with a certificate our CA signed, else why not.</summary>
    private static async Task<string?> RegistryAnswersAsync(LocalSwarmOptions options, CancellationToken ct)
    {
        using var client = TrustingOurCa(options);
        try
        {
            using var response = await client.GetAsync(new Uri($"https://{options.Registry}/v2/"), ct).ConfigureAwait(false);
            return response.IsSuccessStatusCode && response.Headers.Contains("Docker-Distribution-API-Version")
                ? null
                : $"GET /v2/ answered {(int)response.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException && !ct.IsCancellationRequested)
        {
            return e.GetBaseException().Message;
        }
    }

    private static HttpClient TrustingOurCa(LocalSwarmOptions options)
    {
        var ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(options.StateDirectory, "certs", "ca.pem"));
        var handler = new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(3) };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var given = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return chain.Build(given);
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
    }

    // ------------------------------------------------------------------ dockerd per node

    private async Task<Dictionary<int, int>> EnsureDaemonsAsync(LocalSwarmOptions options, bool managerCertificateReissued, List<string> changes, CancellationToken ct)
    {
        var pids = new Dictionary<int, int>();
        var starting = new List<(LocalSwarmNode Node, int Pid)>();
        foreach (var node in options.AllNodes)
        {
            if (ReadPid(node.PidFile) is { } pid && IsOurs(pid, node.Socket))
            {
                if (node.IsManager && managerCertificateReissued)
                {
                    await StopProcessAsync($"dockerd of {node.HostName}", pid, node.Socket, options.StopTimeout, ct).ConfigureAwait(false);
                    Change(changes, $"stopped dockerd of {node.HostName} (pid {pid}) to load its new certificate");
                }
                else
                {
                    pids[node.Number] = pid;
                    continue;
                }
            }

            var arguments = DaemonArguments(options, node);
            Directory.CreateDirectory(node.Folder);
            Directory.CreateDirectory(Path.GetDirectoryName(node.LogFile)!);
            var daemonJson = Path.Combine(node.Folder, "daemon.json");
            if (!File.Exists(daemonJson))
            {
                // Its own (empty) configuration: a daemon.json of the host's engine must not leak into the nodes.
                await File.WriteAllTextAsync(daemonJson, "{}\n", ct).ConfigureAwait(false);
            }

            var started = await _runner.StartDetachedAsync("nsenter", arguments, node.LogFile, ct).ConfigureAwait(false);
            Change(changes, $"started dockerd of {node.HostName} (pid {started}) in {node.NamespaceFile}: {ProcessCommandRunner.Format("nsenter", arguments)}");
            pids[node.Number] = started;
            starting.Add((node, started));
        }

        await Task.WhenAll(options.AllNodes.Select(node => WaitUntilAsync(
            $"dockerd of {node.HostName} (pid {pids[node.Number]})", pids[node.Number], node.LogFile, options,
            async () => await _probe.PingDockerAsync(new DockerEndpoint(node.SocketUri), TimeSpan.FromSeconds(3), ct).ConfigureAwait(false) is { Reachable: false } down ? down.Detail : null,
            ct))).ConfigureAwait(false);
        foreach (var node in options.AllNodes.Where(n => starting.All(s => s.Node != n)))
        {
            _log($"dockerd of {node.HostName} answers on {node.Socket} (pid {pids[node.Number]}); left as it is.");
        }

        return pids;
    }

    internal static IReadOnlyList<string> DaemonArguments(LocalSwarmOptions options, LocalSwarmNode node)
    {
        var certs = Path.Combine(options.StateDirectory, "certs");
        var arguments = new List<string>
        {
            $"--net={node.NamespaceFile}", "--",
            "unshare", "--uts", "--",
            "/bin/sh", "-c", "hostname \"$1\" && shift && exec \"$@\"", "sh", node.HostName,
            "dockerd",
            "--config-file", Path.Combine(node.Folder, "daemon.json"),
            "--data-root", Path.Combine(node.Folder, "docker"),
            "--exec-root", Path.Combine(node.Folder, "run"),
            "--pidfile", node.PidFile,
            "-H", node.SocketUri.ToString(),
        };
        if (node.IsManager)
        {
            arguments.AddRange(
            [
                "-H", options.ManagerApi.ToString().TrimEnd('/'),
                "--tlsverify",
                "--tlscacert", Path.Combine(certs, "ca.pem"),
                "--tlscert", Path.Combine(certs, "manager.pem"),
                "--tlskey", Path.Combine(certs, "manager-key.pem"),
            ]);
        }

        return arguments;
    }

    private async Task StopDaemonAsync(LocalSwarmOptions options, LocalSwarmNode node, List<string> done, CancellationToken ct)
    {
        if (ReadPid(node.PidFile) is { } pid && await StopProcessAsync($"dockerd of {node.HostName}", pid, node.Socket, options.StopTimeout, ct).ConfigureAwait(false))
        {
            lock (done)
            {
                done.Add($"stopped dockerd of {node.HostName} (pid {pid})");
            }
        }
    }

    /// <summary>
    /// Loses node <paramref name="number"/> the way a power cut would: SIGKILL to its dockerd and, at once, to everything
    /// else running in its network namespace and below it (containerd, the shims and every task's processes). Nothing is
    /// cleaned up; <see cref="EnsureAsync"/> starts its dockerd again and the node rejoins. Returns the pids it killed.
    /// </summary>
    /// <exception cref="ProvisioningException">The node is the manager (the swarm would be lost), or not running.</exception>
    public async Task<IReadOnlyList<int>> KillNodeAsync(LocalSwarmOptions options, int number, CancellationToken ct = default)
    {
        options.Validate();
        var node = options.Node(number);
        if (node.IsManager)
        {
            throw new ProvisioningException($"Node {number} ({node.HostName}) is the swarm's only manager: losing it loses the swarm. Kill a worker (2-{options.Nodes}).");
        }

        if (ReadPid(node.PidFile) is not { } dockerd || !IsOurs(dockerd, node.Socket))
        {
            throw new ProvisioningException($"dockerd of {node.HostName} does not run (pid file {node.PidFile}); nothing to kill. Run ./build.sh --target=ProvisionSwarm.");
        }

        var listed = await RunAsync("ip", ["netns", "pids", node.Namespace], ct).ConfigureAwait(false);
        var roots = listed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.TryParse(p, CultureInfo.InvariantCulture, out var id) ? id : 0).Where(p => p > 0).Append(dockerd).ToHashSet();
        var all = ProcessTable.WithDescendants(roots).OrderBy(pid => pid == dockerd ? 0 : 1).ToList();
        await RunAsync("kill", ["-KILL", .. all.Select(pid => pid.ToString(CultureInfo.InvariantCulture))], ct).ConfigureAwait(false);
        _log($"Killed {node.HostName}: SIGKILL to its dockerd (pid {dockerd}) and {all.Count - 1} other process(es) in {node.Namespace} and below.");
        return all;
    }

    /// <summary>Kills what still runs in a node's namespace after its dockerd stopped (e.g. shims of a SIGKILLed dockerd) and their children.</summary>
    private async Task KillWhatIsLeftInAsync(LocalSwarmNode node, List<string> done, CancellationToken ct)
    {
        if (!File.Exists(node.NamespaceFile))
        {
            return;
        }

        var listed = await RunAsync("ip", ["netns", "pids", node.Namespace], ct).ConfigureAwait(false);
        var roots = listed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.TryParse(p, CultureInfo.InvariantCulture, out var id) ? id : 0).Where(p => p > 0).ToHashSet();
        if (!listed.Succeeded || roots.Count == 0)
        {
            return;
        }

        var all = ProcessTable.WithDescendants(roots);
        foreach (var pid in all)
        {
            await RunAsync("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)], ct).ConfigureAwait(false);
        }

        done.Add($"killed {all.Count} process{(all.Count == 1 ? "" : "es")} left in {node.Namespace} ({string.Join(", ", all.Order())})");
    }

    private async Task UnmountUnderAsync(string folder, List<string> done, CancellationToken ct)
    {
        foreach (var mount in ProcessTable.MountsUnder(folder))
        {
            if ((await RunAsync("umount", ["-l", mount], ct).ConfigureAwait(false)).Succeeded)
            {
                done.Add($"unmounted {mount}");
            }
        }
    }

    // ------------------------------------------------------------------ the swarm

    private async Task<Dictionary<int, string>> EnsureSwarmAsync(LocalSwarmOptions options, List<string> changes, CancellationToken ct)
    {
        var managerNode = options.Node(1);
        using var manager = new DockerEngine(new DockerEndpoint(managerNode.SocketUri));
        var info = await manager.GetSwarmInfoAsync(ct).ConfigureAwait(false);
        if (!info.IsManager)
        {
            if (info.LocalState != SwarmLocalState.Inactive)
            {
                await DockerCliAsync(managerNode, $"Making {managerNode.HostName} leave its broken swarm ({info.LocalState}: {info.Error})", ["swarm", "leave", "--force"], ct).ConfigureAwait(false);
            }

            await DockerCliAsync(
                managerNode,
                $"Initialising the swarm on {managerNode.HostName}",
                ["swarm", "init", "--advertise-addr", managerNode.Address.ToString(), "--listen-addr", $"{managerNode.Address}:2377", "--default-addr-pool", options.OverlayAddressPool, "--default-addr-pool-mask-length", "24"],
                ct).ConfigureAwait(false);
            info = await manager.GetSwarmInfoAsync(ct).ConfigureAwait(false);
            Change(changes, $"initialised the swarm on {managerNode.HostName} ({managerNode.Address}:2377, node {info.NodeId}, overlay pool {options.OverlayAddressPool})");
        }

        var ids = new Dictionary<int, string> { [1] = info.NodeId ?? "" };
        string? token = null;
        foreach (var node in options.AllNodes.Where(n => !n.IsManager))
        {
            using var worker = new DockerEngine(new DockerEndpoint(node.SocketUri));
            var state = await worker.GetSwarmInfoAsync(ct).ConfigureAwait(false);
            if (state.LocalState == SwarmLocalState.Active && state.NodeId is { } id
                && (await manager.ListNodesAsync(ct).ConfigureAwait(false)).Any(n => n.Id == id)
                && await WaitUntilReadyAsync(manager, id, options.JoinTimeout, options, ct).ConfigureAwait(false))
            {
                ids[node.Number] = id;
                continue;
            }

            token ??= (await DockerCliAsync(managerNode, "Reading the worker join token", ["swarm", "join-token", "-q", "worker"], ct).ConfigureAwait(false)).Output.Trim();
            ids[node.Number] = await JoinAsync(options, manager, worker, node, state, token, changes, ct).ConfigureAwait(false);
        }

        // A node that left and joined again stays listed as Down under its old id: remove those.
        var current = ids.Values.ToHashSet();
        foreach (var stale in (await manager.ListNodesAsync(ct).ConfigureAwait(false)).Where(n => !current.Contains(n.Id) && n.Status != SwarmNodeStatus.Ready))
        {
            await DockerCliAsync(managerNode, $"Removing stale node {stale.HostName} ({stale.Id})", ["node", "rm", "--force", stale.Id], ct).ConfigureAwait(false);
            Change(changes, $"removed stale node entry {stale.HostName} ({stale.Id}, {stale.Status})");
        }

        return ids;
    }

    private async Task<string> JoinAsync(LocalSwarmOptions options, DockerEngine manager, DockerEngine worker, LocalSwarmNode node, SwarmInfo state, string token, List<string> changes, CancellationToken ct)
    {
        var managerNode = options.Node(1);
        for (var attempt = 1; ; attempt++)
        {
            if (state.LocalState != SwarmLocalState.Inactive)
            {
                // A join that timed out (or a node of an older swarm) must leave before it can join again.
                await DockerCliAsync(node, $"Making {node.HostName} leave ({state.LocalState}{(state.Error is null ? "" : ": " + state.Error)})", ["swarm", "leave", "--force"], ct).ConfigureAwait(false);
                Change(changes, $"made {node.HostName} leave its swarm ({state.LocalState})");
            }

            var join = await DockerCliAsync(
                node,
                null,
                ["swarm", "join", "--token", token, "--advertise-addr", node.Address.ToString(), "--listen-addr", $"{node.Address}:2377", $"{managerNode.Address}:2377"],
                ct).ConfigureAwait(false);
            state = await worker.GetSwarmInfoAsync(ct).ConfigureAwait(false);
            if (state.NodeId is { } id && await WaitUntilReadyAsync(manager, id, options.JoinTimeout, options, ct).ConfigureAwait(false))
            {
                Change(changes, $"joined {node.HostName} ({node.Address}) to the swarm as a worker (node {id}{(attempt > 1 ? $", attempt {attempt}" : "")})");
                return id;
            }

            state = await worker.GetSwarmInfoAsync(ct).ConfigureAwait(false);
            if (attempt >= options.JoinAttempts)
            {
                throw new ProvisioningException(
                    $"{node.HostName} ({node.Address}) did not become a Ready worker after {attempt} join attempt{(attempt == 1 ? "" : "s")} of {options.JoinTimeout.TotalSeconds:0} s each (its swarm state: {state.LocalState}{(state.Error is null ? "" : ", " + state.Error)}). The last `docker swarm join` said:{ProvisioningException.Indent(join.Output)}\nIts dockerd log: {node.LogFile}. Check that the nodes reach each other on port 2377 (iptables rule on {options.Bridge}).");
            }

            _log($"{node.HostName} is not Ready after joining (attempt {attempt}, state {state.LocalState}); leaving and joining again.");
        }
    }

    private async Task<bool> WaitUntilReadyAsync(DockerEngine manager, string nodeId, TimeSpan timeout, LocalSwarmOptions options, CancellationToken ct)
    {
        var since = _time.GetTimestamp();
        while (true)
        {
            var node = (await manager.ListNodesAsync(ct).ConfigureAwait(false)).FirstOrDefault(n => n.Id == nodeId);
            if (node?.Status == SwarmNodeStatus.Ready)
            {
                return true;
            }

            if (_time.GetElapsedTime(since) >= timeout)
            {
                return false;
            }

            await Task.Delay(options.PollInterval, _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The client's view, over mutual TLS: a manager, every node Ready and active, the overlay network there.</summary>
    private async Task EnsureClusterOverTlsAsync(LocalSwarmOptions options, List<string> changes, CancellationToken ct)
    {
        var endpoint = ManagerEndpoint(options);
        using var manager = new DockerEngine(endpoint);
        var info = await manager.GetSwarmInfoAsync(ct).ConfigureAwait(false);
        if (!info.IsManager)
        {
            throw new ProvisioningException($"{endpoint} answers over TLS but is not an active swarm manager ({info.LocalState}{(info.Error is null ? "" : ": " + info.Error)}).");
        }

        var nodes = await manager.ListNodesAsync(ct).ConfigureAwait(false);
        foreach (var node in options.AllNodes)
        {
            var seen = nodes.FirstOrDefault(n => n.HostName == node.HostName && n.Status == SwarmNodeStatus.Ready);
            if (seen is null)
            {
                throw new ProvisioningException($"The manager does not list {node.HostName} as Ready (it lists: {string.Join(", ", nodes.Select(n => $"{n.HostName} {n.Status}"))}). Its log: {node.LogFile}.");
            }

            if (seen.Availability != SwarmNodeAvailability.Active)
            {
                await manager.SetNodeAvailabilityAsync(seen.Id, SwarmNodeAvailability.Active, ct).ConfigureAwait(false);
                Change(changes, $"set node {node.HostName} back to active (it was {seen.Availability.ToString().ToLowerInvariant()})");
            }
        }

        var labels = new Dictionary<string, string> { [Labels.Role] = "swarm-network" };
        var existed = (await manager.ListNetworksAsync(labels, ct).ConfigureAwait(false)).Any(n => n.Name == options.OverlayNetwork);
        var id = await manager.EnsureOverlayNetworkAsync(options.OverlayNetwork, labels, ct).ConfigureAwait(false);
        if (!existed)
        {
            Change(changes, $"created attachable overlay network {options.OverlayNetwork} ({id[..12]})");
        }

        _log($"{endpoint}: swarm manager over mutual TLS, {nodes.Count(n => n.Status == SwarmNodeStatus.Ready)} nodes Ready ({string.Join(", ", nodes.Where(n => n.Status == SwarmNodeStatus.Ready).Select(n => n.HostName))}), overlay network {options.OverlayNetwork}.");
    }

    /// <summary>Puts <paramref name="source"/> (on the CD engine) into the swarm's registry as <paramref name="target"/>, and onto <paramref name="nodes"/>.</summary>
    private async Task EnsureImageInRegistryAsync(LocalSwarmOptions options, string source, string target, IEnumerable<LocalSwarmNode> nodes, List<string> changes, CancellationToken ct)
    {
        var image = ImageRef.Parse(target);
        using (var client = TrustingOurCa(options))
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, new Uri($"https://{options.Registry}/v2/{image.Repository}/manifests/{image.Tag}"));
            request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
            using var response = await client.SendAsync(request, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                if (!await _cdEngine.ImageExistsAsync(source, ct).ConfigureAwait(false))
                {
                    throw new ProvisioningException($"{image} comes from {source} on the CD engine ({_cdEngine.Endpoint}), which does not have it. Run ./build.sh --target=ProvisionLocalServices first (it builds busybox:latest and the proxy image).");
                }

                await _cdEngine.TagImageAsync(source, image, ct).ConfigureAwait(false);
                var digest = await _cdEngine.PushImageAsync(image, ct: ct).ConfigureAwait(false);
                Change(changes, $"pushed {source} as {image} from the CD engine ({digest})");
            }
        }

        await Task.WhenAll(nodes.Select(async node =>
        {
            using var engine = new DockerEngine(new DockerEndpoint(node.SocketUri));
            if (!await engine.ImageExistsAsync(image.ToString(), ct).ConfigureAwait(false))
            {
                await engine.PullImageAsync(image, ct: ct).ConfigureAwait(false);
                lock (changes)
                {
                    Change(changes, $"pulled {image} on {node.HostName}");
                }
            }
        })).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ processes and commands

    private async Task WaitUntilAsync(string what, int pid, string logFile, LocalSwarmOptions options, Func<Task<string?>> whyNotYet, CancellationToken ct)
    {
        var since = _time.GetTimestamp();
        while (true)
        {
            var why = await whyNotYet().ConfigureAwait(false);
            if (why is null)
            {
                return;
            }

            if (!_runner.IsRunning(pid))
            {
                throw new ProvisioningException($"{Capitalise(what)} exited before answering ({why}). Its log {logFile} ends with:{ProvisioningException.Indent(Tail(logFile))}");
            }

            if (_time.GetElapsedTime(since) >= options.StartTimeout)
            {
                throw new ProvisioningException($"{Capitalise(what)} did not answer within {options.StartTimeout.TotalSeconds:0} s ({why}); it still runs. Its log {logFile} ends with:{ProvisioningException.Indent(Tail(logFile))}");
            }

            await Task.Delay(options.PollInterval, _time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>SIGTERM, then SIGKILL after the timeout; false when the pid is not running or is not ours (its command line lacks <paramref name="mark"/>).</summary>
    private async Task<bool> StopProcessAsync(string what, int pid, string mark, TimeSpan timeout, CancellationToken ct)
    {
        if (!_runner.IsRunning(pid))
        {
            return false;
        }

        if (!IsOurs(pid, mark))
        {
            _log($"Pid {pid} is not the {what} (its command line does not mention {mark}); left alone.");
            return false;
        }

        var id = pid.ToString(CultureInfo.InvariantCulture);
        await RunAsync("kill", ["-TERM", id], ct).ConfigureAwait(false);
        var since = _time.GetTimestamp();
        while (_runner.IsRunning(pid))
        {
            if (_time.GetElapsedTime(since) >= timeout)
            {
                _log($"The {what} (pid {pid}) did not stop within {timeout.TotalSeconds:0} s of SIGTERM; sending SIGKILL.");
                await RunAsync("kill", ["-KILL", id], ct).ConfigureAwait(false);
                since = _time.GetTimestamp();
                while (_runner.IsRunning(pid) && _time.GetElapsedTime(since) < timeout)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _time, ct).ConfigureAwait(false);
                }

                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), _time, ct).ConfigureAwait(false);
        }

        return true;
    }

    private bool IsOurs(int pid, string mark) => _runner.IsRunning(pid) && ProcessTable.CommandLine(pid).Contains(mark, StringComparison.Ordinal);

    private static int? ReadPid(string pidFile)
    {
        try
        {
            return File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct) =>
        _runner.RunAsync(program, arguments, CliEnvironment, null, ct);

    private async Task<CommandResult> MustAsync(string what, string program, IReadOnlyList<string> arguments, CancellationToken ct) =>
        (await RunAsync(program, arguments, ct).ConfigureAwait(false)).EnsureSuccess(what);

    /// <summary>Runs the docker CLI against a node's socket; with <paramref name="what"/>, a failure throws.</summary>
    private async Task<CommandResult> DockerCliAsync(LocalSwarmNode node, string? what, IReadOnlyList<string> arguments, CancellationToken ct)
    {
        var result = await RunAsync("docker", ["-H", node.SocketUri.ToString(), .. arguments], ct).ConfigureAwait(false);
        return what is null ? result : result.EnsureSuccess(what);
    }

    /// <summary>The docker CLI talks to the socket it is given, whatever the caller's shell exported.</summary>
    private static readonly IReadOnlyDictionary<string, string> CliEnvironment = new Dictionary<string, string>
    {
        ["DOCKER_HOST"] = "",
        ["DOCKER_TLS_VERIFY"] = "",
        ["DOCKER_CERT_PATH"] = "",
        ["DOCKER_CONTEXT"] = "",
    };

    private void Change(List<string> changes, string line)
    {
        changes.Add(line);
        _log(char.ToUpperInvariant(line[0]) + line[1..] + ".");
    }

    private static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

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
}
