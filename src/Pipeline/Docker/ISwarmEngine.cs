namespace Pipeline.Docker;

/// <summary>
/// The Docker Swarm part of the Engine API, as Pipeline uses it: is this engine a manager, replicated services,
/// their tasks, the nodes, attachable overlay networks. Every call goes to one manager; only our own types cross
/// this interface. Implementations know nothing of Cake.
/// </summary>
public interface ISwarmEngine : IDisposable
{
    /// <summary>The manager this talks to, for messages.</summary>
    DockerEndpoint Endpoint { get; }

    /// <summary>What the engine says about its swarm (from <c>/info</c>); works on any engine, in a swarm or not.</summary>
    Task<SwarmInfo> GetSwarmInfoAsync(CancellationToken ct = default);

    /// <summary>Creates a replicated service; returns its id.</summary>
    /// <param name="spec">The service; validated before the engine is called.</param>
    /// <param name="credentials">Credentials the nodes use to pull the image, or null.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <exception cref="ArgumentException">The spec is invalid; the message names the bad value.</exception>
    /// <exception cref="DockerEngineException">The engine refused (e.g. 409: the name is taken; 503: not a manager).</exception>
    Task<string> CreateServiceAsync(SwarmServiceSpec spec, RegistryCredentials? credentials = null, CancellationToken ct = default);

    /// <summary>Replaces a service's spec (Swarm then rolls the tasks out by its update policy).</summary>
    /// <param name="idOrName">The service to change.</param>
    /// <param name="spec">Its whole new spec; validated before the engine is called.</param>
    /// <param name="credentials">Credentials the nodes use to pull the image, or null.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <exception cref="DockerEngineException">The service does not exist (404) or the engine refused.</exception>
    Task UpdateServiceAsync(string idOrName, SwarmServiceSpec spec, RegistryCredentials? credentials = null, CancellationToken ct = default);

    /// <summary>The service by id or name, or null when it does not exist.</summary>
    Task<SwarmServiceInfo?> InspectServiceAsync(string idOrName, CancellationToken ct = default);

    /// <summary>Removes a service (Swarm then stops its tasks); a missing service is not an error.</summary>
    Task RemoveServiceAsync(string idOrName, CancellationToken ct = default);

    /// <summary>Lists services carrying all of the given labels.</summary>
    Task<IReadOnlyList<SwarmServiceInfo>> ListServicesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);

    /// <summary>
    /// Lists a service's tasks, including finished ones Swarm still keeps, with their nodes' host names. A removed
    /// service's tasks are found by its id (not its name) until Swarm forgets them; then the list is empty.
    /// </summary>
    Task<IReadOnlyList<SwarmTaskInfo>> ListTasksAsync(string serviceIdOrName, CancellationToken ct = default);

    /// <summary>Lists the swarm's nodes.</summary>
    Task<IReadOnlyList<SwarmNodeInfo>> ListNodesAsync(CancellationToken ct = default);

    /// <summary>Sets a node's availability (drain moves its tasks away; active takes new tasks again).</summary>
    /// <param name="idOrHostName">The node's id or its host name.</param>
    /// <param name="availability">The new availability.</param>
    /// <param name="ct">Cancels the call.</param>
    /// <exception cref="DockerEngineException">No node has that id or host name, or the engine refused.</exception>
    Task SetNodeAvailabilityAsync(string idOrHostName, SwarmNodeAvailability availability, CancellationToken ct = default);

    /// <summary>Creates an attachable overlay network when missing (labelled); returns its id.</summary>
    /// <exception cref="DockerEngineException">A network with that name exists but is not an attachable overlay.</exception>
    Task<string> EnsureOverlayNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken ct = default);
}
