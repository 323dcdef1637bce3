using System.Net;
using System.Text.RegularExpressions;

namespace Pipeline.Provisioning.Swarm;

/// <summary>
/// The shape of the test swarm <see cref="LocalSwarm"/> makes on this machine: one Linux bridge with its own /24,
/// one network namespace and dockerd per node (node 1 is the manager), an image registry on the bridge address.
/// </summary>
public sealed partial record LocalSwarmOptions
{
    /// <summary>Where the nodes' data, sockets, pid files, logs, the registry and the certificates live.</summary>
    /// <value>The default value is <c>/var/lib/pipeline-swarm</c>.</value>
    public string StateDirectory { get; init; } = "/var/lib/pipeline-swarm";

    /// <summary>How many nodes: one manager and the rest workers (1 to 9).</summary>
    /// <value>The default value is 3.</value>
    public int Nodes { get; init; } = 3;

    /// <summary>The IPv4 /24 of the bridge: the bridge gets <c>.1</c>, node N gets <c>.(10+N)</c>.</summary>
    /// <value>The default value is <c>10.231.0.0/24</c>.</value>
    public string Subnet { get; init; } = "10.231.0.0/24";

    /// <summary>The Linux bridge on the host (at most 15 characters).</summary>
    /// <value>The default value is <c>pswarm0</c>.</value>
    public string Bridge { get; init; } = "pswarm0";

    /// <summary>Node N's network namespace is this prefix plus N; its veth's host end is that name plus <c>h</c>.</summary>
    /// <value>The default value is <c>pswarm-n</c>.</value>
    public string NamespacePrefix { get; init; } = "pswarm-n";

    /// <summary>Node N's host name is this prefix plus N (each dockerd runs in its own UTS namespace).</summary>
    /// <value>The default value is <c>swarm-node</c>.</value>
    public string HostNamePrefix { get; init; } = "swarm-node";

    /// <summary>The manager's Engine API port on its address (TCP, mutual TLS).</summary>
    /// <value>The default value is 2376.</value>
    public int ManagerApiPort { get; init; } = 2376;

    /// <summary>The image registry's port on the bridge address (HTTPS with a certificate from the local CA).</summary>
    /// <value>The default value is 5443.</value>
    public int RegistryPort { get; init; } = 5443;

    /// <summary>The address pool overlay networks get their subnets from (/24 each).</summary>
    /// <value>The default value is <c>10.232.0.0/16</c>.</value>
    public string OverlayAddressPool { get; init; } = "10.232.0.0/16";

    /// <summary>The attachable overlay network made for releases, probes and tests.</summary>
    /// <value>The default value is <c>pipeline-swarm</c>.</value>
    public string OverlayNetwork { get; init; } = "pipeline-swarm";

    /// <summary>The image on the CD engine that becomes the probe image in the swarm's registry (pulled by every node).</summary>
    /// <value>The default value is <c>busybox:latest</c>.</value>
    public string ProbeImageSource { get; init; } = "busybox:latest";

    /// <summary>The proxy image on the CD engine that is pushed to the swarm's registry for the manager to run the proxy from.</summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/proxy:bookworm</c> (<see cref="Pipeline.Proxy.ProxyOptions.DefaultImage"/>).</value>
    public string ProxyImageSource { get; init; } = Pipeline.Proxy.ProxyOptions.DefaultImage;

    /// <summary>Where every dockerd on this machine looks for a registry's CA (<c>{folder}/{host:port}/ca.crt</c>), read at each pull and push.</summary>
    /// <value>The default value is <c>/etc/docker/certs.d</c>.</value>
    public string DockerCertsDirectory { get; init; } = "/etc/docker/certs.d";

    /// <summary>How long a started dockerd or registry may take to answer.</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a stopped dockerd may take to exit after SIGTERM before it gets SIGKILL.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a node may take to be Ready in the manager's node list after joining.</summary>
    /// <value>The default value is 60 seconds.</value>
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many times a join that timed out is retried (after <c>swarm leave --force</c>).</summary>
    /// <value>The default value is 3.</value>
    public int JoinAttempts { get; init; } = 3;

    /// <summary>How often a starting process or a joining node is checked.</summary>
    /// <value>The default value is 250 milliseconds.</value>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long issued certificates are valid; they are reissued when less than a tenth of this remains.</summary>
    /// <value>The default value is 365 days.</value>
    public TimeSpan CertificateValidity { get; init; } = TimeSpan.FromDays(365);

    /// <summary>The bridge's address (<c>.1</c> of <see cref="Subnet"/>).</summary>
    public IPAddress BridgeAddress => Host(1);

    /// <summary>The image registry, <c>{bridge address}:{port}</c>.</summary>
    public string Registry => $"{BridgeAddress}:{RegistryPort}";

    /// <summary>The probe image as the nodes pull it.</summary>
    public string ProbeImage => $"{Registry}/pipeline/probe:latest";

    /// <summary>The proxy image as the manager pulls it (a deploy's <c>--proxy-image</c> on this swarm).</summary>
    public string ProxyImage => $"{Registry}/pipeline/proxy:bookworm";

    /// <summary>The certificate folder a client uses (ca.pem, cert.pem, key.pem), as DOCKER_CERT_PATH.</summary>
    public string ClientCertPath => Path.Combine(StateDirectory, "certs", "client");

    /// <summary>The manager's Engine API, DOCKER_HOST-style.</summary>
    public Uri ManagerApi => new($"tcp://{Node(1).Address}:{ManagerApiPort}");

    /// <summary>The nodes, manager first.</summary>
    public IReadOnlyList<LocalSwarmNode> AllNodes => Enumerable.Range(1, Nodes).Select(Node).ToList();

    /// <summary>Node <paramref name="number"/> (1 is the manager).</summary>
    public LocalSwarmNode Node(int number)
    {
        var folder = Path.Combine(StateDirectory, $"node{number}");
        return new LocalSwarmNode(
            number,
            $"{HostNamePrefix}{number}",
            Host(10 + number),
            $"{NamespacePrefix}{number}",
            $"{NamespacePrefix}{number}h",
            folder,
            Path.Combine(folder, "docker.sock"),
            Path.Combine(folder, "dockerd.pid"),
            Path.Combine(StateDirectory, "logs", $"node{number}.log"));
    }

    /// <summary>Checks the values once; throws <see cref="ArgumentException"/> naming the bad one and the fix.</summary>
    public LocalSwarmOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(StateDirectory) || !Path.IsPathRooted(StateDirectory))
        {
            throw new ArgumentException($"State directory '{StateDirectory}' must be an absolute path.");
        }

        if (Nodes is < 1 or > 9)
        {
            throw new ArgumentException($"Nodes = {Nodes}: a test swarm has 1 to 9 nodes (one manager, the rest workers).");
        }

        if (SubnetBase() is null)
        {
            throw new ArgumentException($"Subnet '{Subnet}' is not an IPv4 /24 ending in .0 (e.g. 10.231.0.0/24).");
        }

        if (!IPNetwork.TryParse(OverlayAddressPool, out var pool) || pool.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || pool.PrefixLength > 24)
        {
            throw new ArgumentException($"Overlay address pool '{OverlayAddressPool}' is not an IPv4 network of /24 or wider (e.g. 10.232.0.0/16).");
        }

        if (pool.Contains(BridgeAddress))
        {
            throw new ArgumentException($"Overlay address pool '{OverlayAddressPool}' contains the bridge subnet {Subnet}; choose pools that do not overlap.");
        }

        foreach (var (name, value) in new[] { ("Bridge", Bridge), ("NamespacePrefix", NamespacePrefix + "9h") })
        {
            if (!InterfaceName().IsMatch(value))
            {
                throw new ArgumentException($"{name} '{value}' is not a usable interface name (letters, digits, '-', at most 15 characters).");
            }
        }

        if (!HostName().IsMatch(HostNamePrefix + "9"))
        {
            throw new ArgumentException($"Host name prefix '{HostNamePrefix}' must be letters, digits and '-' (e.g. swarm-node).");
        }

        if (!HostName().IsMatch(OverlayNetwork))
        {
            throw new ArgumentException($"Overlay network '{OverlayNetwork}' must be letters, digits and '-' (e.g. pipeline-swarm).");
        }

        foreach (var (name, port) in new[] { ("ManagerApiPort", ManagerApiPort), ("RegistryPort", RegistryPort) })
        {
            if (port is < 1 or > 65535)
            {
                throw new ArgumentException($"{name} = {port} must be from 1 to 65535.");
            }
        }

        if (StartTimeout <= TimeSpan.Zero || StopTimeout <= TimeSpan.Zero || JoinTimeout <= TimeSpan.Zero || PollInterval <= TimeSpan.Zero
            || CertificateValidity < TimeSpan.FromDays(1) || JoinAttempts < 1)
        {
            throw new ArgumentException("StartTimeout, StopTimeout, JoinTimeout and PollInterval must be positive, CertificateValidity at least a day, JoinAttempts at least 1.");
        }

        return this;
    }

    private IPAddress Host(int last)
    {
        var bytes = (SubnetBase() ?? throw new ArgumentException($"Subnet '{Subnet}' is not an IPv4 /24 ending in .0 (e.g. 10.231.0.0/24).")).GetAddressBytes();
        bytes[3] = (byte)last;
        return new IPAddress(bytes);
    }

    private IPAddress? SubnetBase() =>
        IPNetwork.TryParse(Subnet, out var network) && network.PrefixLength == 24
        && network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
        && Subnet.Split('/')[0] == network.BaseAddress.ToString()
            ? network.BaseAddress
            : null;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,14}$")]
    private static partial Regex InterfaceName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")]
    private static partial Regex HostName();
}

/// <summary>One node of the test swarm and where its parts live.</summary>
/// <param name="Number">1 for the manager, 2… for workers.</param>
/// <param name="HostName">Its host name (its own UTS namespace).</param>
/// <param name="Address">Its address on the bridge.</param>
/// <param name="Namespace">Its network namespace (<c>/run/netns/{Namespace}</c>).</param>
/// <param name="HostInterface">The host end of its veth pair, attached to the bridge.</param>
/// <param name="Folder">Its dockerd's data and run folders.</param>
/// <param name="Socket">Its dockerd's unix socket.</param>
/// <param name="PidFile">Its dockerd's pid file.</param>
/// <param name="LogFile">Its dockerd's log.</param>
public sealed record LocalSwarmNode(
    int Number,
    string HostName,
    IPAddress Address,
    string Namespace,
    string HostInterface,
    string Folder,
    string Socket,
    string PidFile,
    string LogFile)
{
    /// <summary>True for node 1.</summary>
    public bool IsManager => Number == 1;

    /// <summary>The network namespace file that <c>nsenter --net=</c> takes.</summary>
    public string NamespaceFile => $"/run/netns/{Namespace}";

    /// <summary>The dockerd socket, DOCKER_HOST-style.</summary>
    public Uri SocketUri => new($"unix://{Socket}");
}
