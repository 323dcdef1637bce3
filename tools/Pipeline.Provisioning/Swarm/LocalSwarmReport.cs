using Pipeline.Docker;

namespace Pipeline.Provisioning.Swarm;

/// <summary>What <see cref="LocalSwarm.EnsureAsync"/> found and did, and how to reach the swarm.</summary>
/// <param name="Nodes">Each node with its dockerd's pid and swarm node id, manager first.</param>
/// <param name="Bridge">The Linux bridge.</param>
/// <param name="BridgeAddress">The bridge's address (the nodes' default gateway, the registry's address).</param>
/// <param name="ForwardingChain">The iptables chain holding the rule that lets the nodes talk (DOCKER-USER, else FORWARD).</param>
/// <param name="Registry">The image registry every node and the CD engine use, <c>host:port</c> (HTTPS).</param>
/// <param name="RegistryPid">The registry's pid.</param>
/// <param name="Manager">The manager's Engine API over mutual TLS.</param>
/// <param name="OverlayNetwork">The attachable overlay network.</param>
/// <param name="ProbeImage">The probe image every node has.</param>
/// <param name="Changes">What was changed, in order; empty when everything was healthy.</param>
/// <param name="Elapsed">How long it took.</param>
public sealed record LocalSwarmReport(
    IReadOnlyList<LocalSwarmNodeStatus> Nodes,
    string Bridge,
    string BridgeAddress,
    string ForwardingChain,
    string Registry,
    int RegistryPid,
    DockerEndpoint Manager,
    string OverlayNetwork,
    string ProbeImage,
    IReadOnlyList<string> Changes,
    TimeSpan Elapsed)
{
    /// <summary>The proxy image in the swarm's registry (the manager has it).</summary>
    public string? ProxyImage { get; init; }

    /// <summary>The variables that point the docker CLI (or the pipeline, with the <c>PRODUCTION_</c> prefix) at the manager.</summary>
    public IReadOnlyList<string> Environment(string prefix = "") =>
    [
        $"{prefix}DOCKER_HOST={Manager.Host.ToString().TrimEnd('/')}",
        $"{prefix}DOCKER_TLS_VERIFY=1",
        $"{prefix}DOCKER_CERT_PATH={Manager.CertPath}",
    ];

    /// <summary>Lines for a person: what runs where, and how to use it.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"Bridge {Bridge} {BridgeAddress}/24 (iptables {ForwardingChain} rule lets the nodes talk).";
        foreach (var status in Nodes)
        {
            var node = status.Node;
            yield return $"{(node.IsManager ? "manager" : "worker ")} {node.HostName}: {node.Address} in netns {node.Namespace}, dockerd pid {status.Pid}, socket {node.Socket}, node id {status.NodeId}, log {node.LogFile}";
        }

        yield return $"Manager API: {Manager.Host.ToString().TrimEnd('/')} (mutual TLS; client certificates in {Manager.CertPath}).";
        yield return $"Image registry: https://{Registry} (pid {RegistryPid}); the nodes and the CD engine push and pull as {Registry}/NAME:TAG.";
        yield return $"Overlay network: {OverlayNetwork} (attachable; use endpoint mode dnsrr and host-mode published ports). Probe image: {ProbeImage}. Proxy image: {ProxyImage}.";
        yield return "Use it:";
        yield return "  export " + string.Join(' ', Environment());
        yield return "  # or for the pipeline's production engine: " + string.Join(' ', Environment("PRODUCTION_"));
    }
}

/// <summary>One node after provisioning.</summary>
/// <param name="Node">Where it lives.</param>
/// <param name="Pid">Its dockerd's pid.</param>
/// <param name="NodeId">Its swarm node id.</param>
public sealed record LocalSwarmNodeStatus(LocalSwarmNode Node, int Pid, string NodeId);

/// <summary>What <see cref="LocalSwarm.TeardownAsync"/> stopped and deleted.</summary>
/// <param name="Done">Each thing stopped or deleted, in order; empty when there was nothing.</param>
/// <param name="Elapsed">How long it took.</param>
public sealed record LocalSwarmTeardownReport(IReadOnlyList<string> Done, TimeSpan Elapsed);
