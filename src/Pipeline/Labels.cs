namespace Pipeline;

/// <summary>The labels every container, volume and network the pipeline creates carries; cleanup and snapshots find resources by them.</summary>
public static class Labels
{
    /// <summary>The service name.</summary>
    public const string Service = "pipeline.service";
    /// <summary>The release colour.</summary>
    public const string Color = "pipeline.color";
    /// <summary>The release version.</summary>
    public const string Version = "pipeline.version";
    /// <summary>The deploy that created the resource.</summary>
    public const string DeployId = "pipeline.deploy-id";
    /// <summary>What the resource is for: one of <see cref="Roles"/>.</summary>
    public const string Role = "pipeline.role";
    /// <summary>On the proxy container: the proxy kind (<c>haproxy</c> or <c>nginx</c>).</summary>
    public const string Proxy = "pipeline.proxy";
    /// <summary>On the proxy container: the host port its HTTPS port is published on (absent without HTTPS).</summary>
    public const string ProxyHttpsPort = "pipeline.proxy.https-port";
    /// <summary>On a test container: its <c>TEST_TYPE</c>.</summary>
    public const string TestType = "pipeline.test-type";
    /// <summary>On a release container of the containers runtime: its replica number (1…replicas).</summary>
    public const string Replica = "pipeline.replica";
    /// <summary>On the long-lived probe of a release network: that network's name.</summary>
    public const string Network = "pipeline.network";
    /// <summary>On a release container Heal or Scale started in place of another (or beside the others): the id of that run.</summary>
    public const string HealedBy = "pipeline.healed-by";
    /// <summary>On a network claim (a volume): the id of the call that holds it, the only one that may create the network.</summary>
    public const string NetworkClaim = "pipeline.network-claim";
}

/// <summary>The values of the <see cref="Labels.Role"/> label.</summary>
public static class Roles
{
    /// <summary>A release's container, its volumes and the images built for it.</summary>
    public const string Release = "release";
    /// <summary>The proxy container and the network it created.</summary>
    public const string Proxy = "proxy";
    /// <summary>A test container and the test image.</summary>
    public const string Test = "test";
    /// <summary>The pipeline network a deploy created.</summary>
    public const string Network = "network";
    /// <summary>A volume held while one call creates a network, so two runs never create two of one name (removed after).</summary>
    public const string NetworkClaim = "network-claim";
    /// <summary>
    /// A probe container on the release network that checks a new release's health from the production side: one
    /// long-lived per network (labelled <see cref="Labels.Network"/> and the deploy that started it), or one per check.
    /// </summary>
    public const string Probe = "probe";
    /// <summary>A migration runner container (psql on the database's network).</summary>
    public const string Migration = "migration";
    /// <summary>A database server the build provisioned, and its data volume: no deploy, rollback or retire touches them.</summary>
    public const string Database = "database";
}
