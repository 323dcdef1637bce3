using System.Text.RegularExpressions;

namespace Pipeline.Docker;

/// <summary>This engine's place in a swarm (<c>Swarm.LocalNodeState</c> in <c>/info</c>).</summary>
public enum SwarmLocalState
{
    /// <summary>Not part of a swarm.</summary>
    Inactive,

    /// <summary>Joining, not yet part of it.</summary>
    Pending,

    /// <summary>Part of a swarm.</summary>
    Active,

    /// <summary>Joining or running failed; <see cref="SwarmInfo.Error"/> says why.</summary>
    Error,

    /// <summary>An autolocked manager waiting for its unlock key.</summary>
    Locked,
}

/// <summary>What an engine says about the swarm it is part of (from <c>GET /info</c>).</summary>
/// <param name="LocalState">This engine's swarm state.</param>
/// <param name="ControlAvailable">True when this engine is a manager (it can change services and nodes).</param>
/// <param name="NodeId">This engine's node id in the swarm, when it is part of one.</param>
/// <param name="NodeAddress">The address this node advertises to the others.</param>
/// <param name="ClusterId">The swarm's id, when this engine is a manager.</param>
/// <param name="Managers">How many managers the swarm has (managers only know).</param>
/// <param name="Nodes">How many nodes the swarm has (managers only know).</param>
/// <param name="Error">Why joining or running failed, when it did.</param>
public sealed record SwarmInfo(
    SwarmLocalState LocalState,
    bool ControlAvailable,
    string? NodeId,
    string? NodeAddress,
    string? ClusterId,
    int Managers,
    int Nodes,
    string? Error)
{
    /// <summary>True when this engine is an active swarm manager: services and nodes can be changed through it.</summary>
    public bool IsManager => LocalState == SwarmLocalState.Active && ControlAvailable;
}

/// <summary>How a service's tasks are found by name on its networks.</summary>
public enum SwarmEndpointMode
{
    /// <summary>DNS round robin: the service name resolves to every task's address (no IPVS needed).</summary>
    Dnsrr,

    /// <summary>One virtual IP balanced by IPVS in the kernel (fails on kernels without IPVS).</summary>
    Vip,
}

/// <summary>When Swarm restarts a service's task.</summary>
public enum SwarmRestartCondition
{
    /// <summary>Never.</summary>
    None,

    /// <summary>When it exits with a non-zero code.</summary>
    OnFailure,

    /// <summary>Whenever it stops.</summary>
    Any,
}

/// <summary>In which order a rolling update (or rollback) replaces a task.</summary>
public enum SwarmUpdateOrder
{
    /// <summary>Start the new task, then stop the old one (no gap).</summary>
    StartFirst,

    /// <summary>Stop the old task, then start the new one.</summary>
    StopFirst,
}

/// <summary>What Swarm does when an updated task fails.</summary>
public enum SwarmUpdateFailureAction
{
    /// <summary>Pause the update.</summary>
    Pause,

    /// <summary>Carry on with the next tasks.</summary>
    Continue,

    /// <summary>Roll the service back to its previous spec.</summary>
    Rollback,
}

/// <summary>How a service port is published.</summary>
public enum SwarmPublishMode
{
    /// <summary>On the node running the task, on all its addresses (no routing mesh needed).</summary>
    Host,

    /// <summary>On every node through the ingress routing mesh (needs IPVS).</summary>
    Ingress,
}

/// <summary>A swarm node's availability for new tasks.</summary>
public enum SwarmNodeAvailability
{
    /// <summary>Takes tasks.</summary>
    Active,

    /// <summary>Keeps its tasks, takes no new ones.</summary>
    Pause,

    /// <summary>Its tasks are moved to other nodes; takes none.</summary>
    Drain,
}

/// <summary>What a swarm node is.</summary>
public enum SwarmNodeRole
{
    /// <summary>Runs tasks.</summary>
    Worker,

    /// <summary>Runs tasks and the swarm's control plane.</summary>
    Manager,
}

/// <summary>Whether the managers hear from a node.</summary>
public enum SwarmNodeStatus
{
    /// <summary>Not known yet.</summary>
    Unknown,

    /// <summary>Its engine stopped answering the managers.</summary>
    Down,

    /// <summary>It answers and can run tasks.</summary>
    Ready,

    /// <summary>It lost its connection to the managers.</summary>
    Disconnected,
}

/// <summary>A service task's lifecycle state (Swarm's task states, in order).</summary>
public enum SwarmTaskState
{
    /// <summary>Created.</summary>
    New,

    /// <summary>Resources allocated.</summary>
    Allocated,

    /// <summary>Waiting for a node.</summary>
    Pending,

    /// <summary>Given to a node.</summary>
    Assigned,

    /// <summary>Accepted by the node.</summary>
    Accepted,

    /// <summary>The node prepares it (e.g. pulls the image).</summary>
    Preparing,

    /// <summary>Prepared.</summary>
    Ready,

    /// <summary>Starting.</summary>
    Starting,

    /// <summary>Its container runs.</summary>
    Running,

    /// <summary>Exited with code 0.</summary>
    Complete,

    /// <summary>Stopped on request.</summary>
    Shutdown,

    /// <summary>Exited with an error.</summary>
    Failed,

    /// <summary>The node could not run it (e.g. the image cannot be pulled).</summary>
    Rejected,

    /// <summary>Being removed.</summary>
    Remove,

    /// <summary>Its node is gone.</summary>
    Orphaned,
}

/// <summary>When and how often Swarm restarts a task.</summary>
/// <param name="Condition">When to restart.</param>
/// <param name="Delay">The wait between restarts, or null for Swarm's default (5 s).</param>
/// <param name="MaxAttempts">How many restarts within <paramref name="Window"/> (null: unlimited).</param>
/// <param name="Window">The window <paramref name="MaxAttempts"/> counts in (null: forever).</param>
public sealed record SwarmRestartPolicy(
    SwarmRestartCondition Condition = SwarmRestartCondition.Any,
    TimeSpan? Delay = null,
    int? MaxAttempts = null,
    TimeSpan? Window = null);

/// <summary>How a rolling update (or rollback) goes.</summary>
/// <param name="Parallelism">How many tasks at a time (0: all at once).</param>
/// <param name="Order">Start the new task first, or stop the old one first.</param>
/// <param name="FailureAction">What to do when an updated task fails.</param>
/// <param name="Delay">The wait between batches.</param>
/// <param name="Monitor">How long each new task is watched for failure, or null for Swarm's default (5 s).</param>
public sealed record SwarmUpdatePolicy(
    int Parallelism = 1,
    SwarmUpdateOrder Order = SwarmUpdateOrder.StartFirst,
    SwarmUpdateFailureAction FailureAction = SwarmUpdateFailureAction.Pause,
    TimeSpan Delay = default,
    TimeSpan? Monitor = null);

/// <summary>A published TCP port of a service.</summary>
/// <param name="TargetPort">The port inside the task's container.</param>
/// <param name="PublishedPort">The port on the node (host mode) or on every node (ingress).</param>
/// <param name="Mode">Host mode (the default; no routing mesh needed) or ingress.</param>
public sealed record SwarmPort(int TargetPort, int PublishedPort, SwarmPublishMode Mode = SwarmPublishMode.Host);

/// <summary>What a replicated Swarm service runs; validated by <see cref="Validate"/> before any engine is called.</summary>
public sealed partial record SwarmServiceSpec
{
    /// <summary>The service name (letters, digits, '-' and '_', at most 63 characters; unique in the swarm).</summary>
    public required string Name { get; init; }

    /// <summary>The image reference every task runs (a registry every node can pull from).</summary>
    public required string Image { get; init; }

    /// <summary>Replaces the image's entrypoint, or null for the image's own.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>Replaces the image's CMD, or null for the image's own.</summary>
    public IReadOnlyList<string>? Args { get; init; }

    /// <summary>Environment variables of every task.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Labels on the service.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Labels on every task's container.</summary>
    public IReadOnlyDictionary<string, string> ContainerLabels { get; init; } = new Dictionary<string, string>();

    /// <summary>How many tasks run (0 stops them all, the service stays).</summary>
    /// <value>The default value is 1.</value>
    public int Replicas { get; init; } = 1;

    /// <summary>Networks (names) every task joins, e.g. an attachable overlay.</summary>
    public IReadOnlyList<string> Networks { get; init; } = [];

    /// <summary>When Swarm restarts a task.</summary>
    /// <value>The default value is restart on any exit, Swarm's default delay.</value>
    public SwarmRestartPolicy RestartPolicy { get; init; } = new();

    /// <summary>Placement constraints, e.g. <c>node.hostname!=node3</c>, <c>node.role==worker</c>, <c>node.labels.zone==a</c>.</summary>
    public IReadOnlyList<string> Constraints { get; init; } = [];

    /// <summary>Placement preferences: node attributes to spread tasks over, e.g. <c>node.labels.zone</c>.</summary>
    public IReadOnlyList<string> SpreadOver { get; init; } = [];

    /// <summary>How tasks are found by the service name.</summary>
    /// <value>The default value is <see cref="SwarmEndpointMode.Dnsrr"/> (VIP needs IPVS).</value>
    public SwarmEndpointMode EndpointMode { get; init; } = SwarmEndpointMode.Dnsrr;

    /// <summary>How a changed spec is rolled out.</summary>
    /// <value>The default value is one task at a time, start-first, pause on failure.</value>
    public SwarmUpdatePolicy Update { get; init; } = new();

    /// <summary>How a rollback to the previous spec is rolled out.</summary>
    /// <value>The default value is one task at a time, start-first, pause on failure.</value>
    public SwarmUpdatePolicy Rollback { get; init; } = new();

    /// <summary>Published TCP ports.</summary>
    public IReadOnlyList<SwarmPort> Ports { get; init; } = [];

    /// <summary>How long a stopping task gets between SIGTERM and SIGKILL, or null for Swarm's default (10 s).</summary>
    public TimeSpan? StopGracePeriod { get; init; }

    /// <summary>A counter that, when changed, makes Swarm replace every task even though nothing else changed (<c>docker service update --force</c>).</summary>
    /// <value>The default value is 0.</value>
    public ulong ForceUpdate { get; init; }

    /// <summary>Checks the spec; throws <see cref="ArgumentException"/> naming the bad value and the fix.</summary>
    public SwarmServiceSpec Validate()
    {
        if (string.IsNullOrEmpty(Name) || !ServiceName().IsMatch(Name))
        {
            throw new ArgumentException($"Service name '{Name}' is not valid: use letters, digits, '-' and '_' (at most 63 characters, starting with a letter or digit).");
        }

        if (string.IsNullOrWhiteSpace(Image))
        {
            throw new ArgumentException($"Service {Name} has no image.");
        }

        if (Replicas < 0)
        {
            throw new ArgumentException($"Service {Name}: replicas = {Replicas}; use 0 or more.");
        }

        if (Networks.FirstOrDefault(string.IsNullOrWhiteSpace) is not null)
        {
            throw new ArgumentException($"Service {Name}: a network name is empty.");
        }

        if (Constraints.FirstOrDefault(c => !Constraint().IsMatch(c)) is { } constraint)
        {
            throw new ArgumentException($"Service {Name}: placement constraint '{constraint}' is not 'attribute==value' or 'attribute!=value' (e.g. node.hostname!=node3, node.role==worker).");
        }

        if (SpreadOver.FirstOrDefault(s => string.IsNullOrWhiteSpace(s) || s.Contains('=')) is { } spread)
        {
            throw new ArgumentException($"Service {Name}: spread preference '{spread}' must name a node attribute (e.g. node.labels.zone).");
        }

        foreach (var port in Ports)
        {
            if (port.TargetPort is < 1 or > 65535 || port.PublishedPort is < 1 or > 65535)
            {
                throw new ArgumentException($"Service {Name}: port {port.PublishedPort}:{port.TargetPort} must be from 1 to 65535 on both sides.");
            }

            if (port.Mode == SwarmPublishMode.Ingress && EndpointMode == SwarmEndpointMode.Dnsrr)
            {
                throw new ArgumentException($"Service {Name}: port {port.PublishedPort} is published through the ingress routing mesh, which needs endpoint mode vip; publish it in host mode with dnsrr.");
            }
        }

        if (Ports.GroupBy(p => p.PublishedPort).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new ArgumentException($"Service {Name}: port {twice.Key} is published twice.");
        }

        foreach (var (what, policy) in new[] { ("update", Update), ("rollback", Rollback) })
        {
            if (policy.Parallelism < 0 || policy.Delay < TimeSpan.Zero || policy.Monitor < TimeSpan.Zero)
            {
                throw new ArgumentException($"Service {Name}: the {what} policy needs parallelism, delay and monitor of 0 or more.");
            }
        }

        if (RestartPolicy.MaxAttempts < 0 || RestartPolicy.Delay < TimeSpan.Zero || RestartPolicy.Window < TimeSpan.Zero || StopGracePeriod < TimeSpan.Zero)
        {
            throw new ArgumentException($"Service {Name}: restart attempts, delays, window and stop grace period must be 0 or more.");
        }

        return this;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    private static partial Regex ServiceName();

    [GeneratedRegex(@"^\s*[A-Za-z0-9_.\-]+\s*(==|!=)\s*\S.*$")]
    private static partial Regex Constraint();
}

/// <summary>A service as the swarm holds it.</summary>
/// <param name="Id">The service id.</param>
/// <param name="Name">The service name.</param>
/// <param name="Version">The spec version an update must name.</param>
/// <param name="Spec">The current spec.</param>
/// <param name="UpdateState">The last rolling update's state (<c>updating</c>, <c>completed</c>, <c>paused</c>, <c>rollback_completed</c>, …), or null when never updated.</param>
/// <param name="UpdateMessage">What Swarm says about that update.</param>
public sealed record SwarmServiceInfo(string Id, string Name, ulong Version, SwarmServiceSpec Spec, string? UpdateState, string? UpdateMessage);

/// <summary>One task of a service: a container on one node.</summary>
/// <param name="Id">The task id.</param>
/// <param name="ServiceId">Its service's id.</param>
/// <param name="Slot">Its replica slot (1…replicas).</param>
/// <param name="NodeId">The node it was given to, once assigned.</param>
/// <param name="NodeHostName">That node's host name, when the node is known.</param>
/// <param name="State">Its current state.</param>
/// <param name="DesiredState">The state Swarm drives it to (<see cref="SwarmTaskState.Running"/> or <see cref="SwarmTaskState.Shutdown"/>).</param>
/// <param name="Message">Swarm's message about the state.</param>
/// <param name="Error">Why it failed or was rejected, when it was.</param>
/// <param name="ContainerId">Its container's id on its node, once created.</param>
/// <param name="ExitCode">Its container's exit code, once exited.</param>
/// <param name="Addresses">Its address on each network (network name → IPv4 address, no prefix length).</param>
/// <param name="UpdatedAt">When Swarm last changed it.</param>
public sealed record SwarmTaskInfo(
    string Id,
    string ServiceId,
    int? Slot,
    string? NodeId,
    string? NodeHostName,
    SwarmTaskState State,
    SwarmTaskState DesiredState,
    string? Message,
    string? Error,
    string? ContainerId,
    long? ExitCode,
    IReadOnlyDictionary<string, string> Addresses,
    DateTimeOffset? UpdatedAt)
{
    /// <summary>True when the task runs and Swarm wants it to.</summary>
    public bool IsRunning => State == SwarmTaskState.Running && DesiredState == SwarmTaskState.Running;
}

/// <summary>A node of the swarm, as the managers see it.</summary>
/// <param name="Id">The node id.</param>
/// <param name="HostName">The node's host name.</param>
/// <param name="Role">Worker or manager.</param>
/// <param name="Availability">Whether it takes tasks.</param>
/// <param name="Status">Whether the managers hear from it.</param>
/// <param name="Address">Its address as the managers see it.</param>
/// <param name="IsLeader">True for the raft leader among the managers.</param>
/// <param name="Labels">The node's labels (placement constraints and preferences use them).</param>
public sealed record SwarmNodeInfo(
    string Id,
    string HostName,
    SwarmNodeRole Role,
    SwarmNodeAvailability Availability,
    SwarmNodeStatus Status,
    string? Address,
    bool IsLeader,
    IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>True when the node answers and takes tasks.</summary>
    public bool IsReadyAndActive => Status == SwarmNodeStatus.Ready && Availability == SwarmNodeAvailability.Active;
}
