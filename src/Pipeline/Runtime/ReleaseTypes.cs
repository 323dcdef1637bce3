using System.Text.Json.Serialization;
using Pipeline.Configuration;
using Pipeline.Docker;

namespace Pipeline.Runtime;

/// <summary>One release of a service: its colour and the deploy that made it. Its resources carry these as labels.</summary>
/// <param name="Service">The service.</param>
/// <param name="Color">The colour, <c>blue</c> or <c>green</c>.</param>
/// <param name="DeployId">The deploy that created it.</param>
public sealed record ReleaseId(string Service, string Color, string DeployId)
{
    /// <summary>The release's name on the containers runtime (its first container): <c>{service}-{color}-{last 6 of the deploy id}</c>.</summary>
    public string Name => $"{Service}-{Color}-{(DeployId.Length > 6 ? DeployId[^6..] : DeployId)}";

    /// <summary>The labels that select the release's resources.</summary>
    public IReadOnlyDictionary<string, string> Selector => new Dictionary<string, string>
    {
        [Labels.Service] = Service,
        [Labels.Color] = Color,
        [Labels.DeployId] = DeployId,
    };

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>What a release runs and how.</summary>
public sealed record ReleaseSpec
{
    /// <summary>Which release this is.</summary>
    public required ReleaseId Id { get; init; }

    /// <summary>The version it runs.</summary>
    public required string Version { get; init; }

    /// <summary>The image reference by tag, in the image registry (where the production side pulls it from).</summary>
    public required string Image { get; init; }

    /// <summary>The image's manifest digest (<c>sha256:…</c>) when known: the swarm runtime pins every task to it.</summary>
    /// <value>The default value is null: run the tag.</value>
    public string? ImageDigest { get; init; }

    /// <summary>True when the image is already on the engine that runs the release (it was built there): the containers runtime does not pull it.</summary>
    /// <value>The default value is false: pull the image from the registry.</value>
    public bool ImageIsLocal { get; init; }

    /// <summary>Environment variables of every replica.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Labels on everything the release creates (service, colour, version, deploy id, role).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The port the release listens on.</summary>
    /// <value>The default value is 8080.</value>
    public int Port { get; init; } = 8080;

    /// <summary>The path that answers 2xx when a replica is healthy.</summary>
    /// <value>The default value is <c>/health</c>.</value>
    public string HealthPath { get; init; } = "/health";

    /// <summary>Named volumes the release gets (each <c>{release name}-{name}</c>, shared by its replicas).</summary>
    public IReadOnlyList<VolumeMount> Volumes { get; init; } = [];

    /// <summary>How many replicas run.</summary>
    /// <value>The default value is 1.</value>
    public int Replicas { get; init; } = 1;

    /// <summary>Placement constraints (swarm), e.g. <c>node.role==worker</c>.</summary>
    public IReadOnlyList<string> Constraints { get; init; } = [];

    /// <summary>Node attributes to spread replicas over (swarm), e.g. <c>node.hostname</c>.</summary>
    public IReadOnlyList<string> SpreadOver { get; init; } = [];

    /// <summary>Credentials for the image registry (the production side pulls with them), or null.</summary>
    public RegistryCredentials? Credentials { get; init; }

    /// <summary>
    /// The name of the network's long-lived probe to start beside the release (from <see cref="IReleaseRuntime.ProbeToStartAsync"/>;
    /// record its removal first), or null when one runs already or the runtime starts a probe per check.
    /// </summary>
    /// <value>The default value is null.</value>
    public string? Probe { get; init; }

    /// <summary>The image pinned to its digest when known: <c>{image}@{digest}</c>.</summary>
    public string PinnedImage => ImageDigest is { Length: > 0 } digest ? $"{Image}@{digest}" : Image;
}

/// <summary>Where one replica of a release answers.</summary>
/// <param name="Address">Its address on the release network.</param>
/// <param name="Port">Its port.</param>
/// <param name="Node">The node it runs on (swarm), or null on one engine.</param>
/// <param name="InstanceId">Its container id (or, on a swarm, its task's container id).</param>
public sealed record ReleaseEndpoint(
    string Address,
    int Port,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Node = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? InstanceId = null)
{
    /// <inheritdoc />
    public override string ToString() => (Address.Contains(':') ? $"[{Address}]:{Port}" : $"{Address}:{Port}") + (Node is null ? "" : $" on {Node}");
}

/// <summary>Where a release answers.</summary>
/// <param name="Id">The release.</param>
/// <param name="Name">Its name on the runtime (first container, or service).</param>
/// <param name="Endpoints">One per running replica.</param>
/// <param name="DirectUrl">Where a container on the release network reaches the release itself (not through the proxy), e.g. <c>http://hello-green:8080/</c>.</param>
public sealed record ReleaseAddresses(ReleaseId Id, string Name, IReadOnlyList<ReleaseEndpoint> Endpoints, Uri DirectUrl);

/// <summary>A release a runtime holds.</summary>
/// <param name="Id">The release.</param>
/// <param name="Version">Its version label, when its resources carry one.</param>
/// <param name="Names">Its containers, services and volumes by name.</param>
public sealed record RuntimeRelease(ReleaseId Id, string? Version, IReadOnlyList<string> Names);

/// <summary>What a release needs from a runtime, checked before anything changes.</summary>
/// <param name="Replicas">How many replicas.</param>
/// <param name="Constraints">Placement constraints.</param>
/// <param name="Volumes">Named volumes.</param>
public sealed record RuntimeRequirements(int Replicas, IReadOnlyList<string> Constraints, IReadOnlyList<VolumeMount> Volumes);

/// <summary>A service's resources on a runtime, one comparable line each, sorted.</summary>
/// <param name="Containers">Its labelled containers on the production engine (name, id, image, state, colour, version).</param>
/// <param name="Volumes">Its labelled volumes.</param>
/// <param name="Networks">The release network and networks labelled with the service.</param>
/// <param name="Services">Its swarm services with their running tasks (empty on one engine).</param>
/// <param name="Nodes">The swarm's nodes with their state (empty on one engine).</param>
public sealed record RuntimeSnapshot(
    IReadOnlyList<string> Containers,
    IReadOnlyList<string> Volumes,
    IReadOnlyList<string> Networks,
    IReadOnlyList<string> Services,
    IReadOnlyList<string> Nodes);

/// <summary>A new release never became healthy: a replica stopped, could not be placed, or did not answer its health path in time.</summary>
public sealed class ReleaseUnhealthyException(string message) : Exception(message);

/// <summary>A release the caller named does not run on the runtime.</summary>
public sealed class ReleaseNotFoundException(string message) : Exception(message);

/// <summary>The production engine cannot run releases the way the options ask (e.g. a swarm worker, not a manager); the message names the fix.</summary>
public sealed class ReleaseRuntimeException(string message) : Exception(message);
