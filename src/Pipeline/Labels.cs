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
    /// <summary><c>release</c>, <c>proxy</c> or <c>test</c>.</summary>
    public const string Role = "pipeline.role";
}
