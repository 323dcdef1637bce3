using Pipeline.Docker;

namespace Pipeline.Testing;

/// <summary>When a test container runs; passed to it as <c>TEST_TYPE</c>.</summary>
public enum TestType
{
    /// <summary><c>pre-deployment</c>: before the image is built and pushed; no release exists yet.</summary>
    PreDeployment,

    /// <summary><c>pre-integration</c>: against the new release directly, before the proxy switches to it.</summary>
    PreIntegration,

    /// <summary><c>post-integration</c>: through the proxy, after the switch.</summary>
    PostIntegration,
}

/// <summary>The contract names of <see cref="TestType"/>.</summary>
public static class TestTypes
{
    /// <summary>The value of <c>TEST_TYPE</c>: <c>pre-deployment</c>, <c>pre-integration</c> or <c>post-integration</c>.</summary>
    public static string ToContractName(this TestType type) => type switch
    {
        TestType.PreDeployment => "pre-deployment",
        TestType.PreIntegration => "pre-integration",
        TestType.PostIntegration => "post-integration",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown test type."),
    };
}

/// <summary>
/// One run of a service's test image (built from its <c>Dockerfile.tests</c>). The container gets
/// <c>TEST_TYPE</c>, <c>TARGET_URL</c>, <c>SERVICE_NAME</c>, <c>SERVICE_VERSION</c> and <c>SERVICE_COLOR</c>
/// plus <see cref="Environment"/>; exit code 0 means the tests passed.
/// </summary>
public sealed record TestRun
{
    /// <summary>The <see cref="Network"/> value that shares the host's network (to reach a proxy on 127.0.0.1).</summary>
    public const string HostNetwork = "host";

    /// <summary>The <see cref="Network"/> value that shares the network stack of a running container (its addresses, routes and name resolution).</summary>
    /// <param name="containerId">The container's id or name.</param>
    public static string NetworkOf(string containerId) => $"container:{containerId}";

    /// <summary>Which stage runs the tests.</summary>
    public required TestType Type { get; init; }

    /// <summary>The test image reference.</summary>
    public required string Image { get; init; }

    /// <summary>The service under test (<c>SERVICE_NAME</c>).</summary>
    public required string ServiceName { get; init; }

    /// <summary>The version under test (<c>SERVICE_VERSION</c>).</summary>
    public required string ServiceVersion { get; init; }

    /// <summary>The colour of the release under test (<c>SERVICE_COLOR</c>); null before deployment.</summary>
    public string? ServiceColor { get; init; }

    /// <summary>
    /// What the tests talk to (<c>TARGET_URL</c>): the release itself for pre-integration, the proxy for
    /// post-integration; null (empty variable) for pre-deployment.
    /// </summary>
    public Uri? TargetUrl { get; init; }

    /// <summary>Extra environment variables; they may not redefine the contract variables.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Values (secrets from <see cref="Environment"/>) replaced by <c>***</c> in the streamed output and in failure messages.</summary>
    public IReadOnlyList<string> Secrets { get; init; } = [];

    /// <summary>
    /// The network to run on: a Docker network name (to reach a release by its address there),
    /// <see cref="HostNetwork"/> (to reach a proxy published on 127.0.0.1), <see cref="NetworkOf"/> a container (to
    /// reach what that container was seen to reach), or null for the default bridge.
    /// </summary>
    public string? Network { get; init; }

    /// <summary>Extra <c>/etc/hosts</c> entries for the test container: host name → IP address (a host name routed by the proxy, pointed at it).</summary>
    public IReadOnlyDictionary<string, string> ExtraHosts { get; init; } = new Dictionary<string, string>();

    /// <summary>Labels for the test container (the pipeline's service, colour, version, deploy id); <c>pipeline.role=test</c> is always set.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The container name, or null for <c>{service}-{test type}-tests-{8 hex}</c>.</summary>
    public string? ContainerName { get; init; }

    /// <summary>How long the tests may run before they are stopped and counted as failed.</summary>
    /// <value>The default is null: no limit (cancel the token instead).</value>
    public TimeSpan? Timeout { get; init; }

    /// <summary>How the run is named in messages: <c>pre-integration tests for hello 1.4.0 (green)</c>.</summary>
    public string Description =>
        $"{Type.ToContractName()} tests for {ServiceName} {ServiceVersion}" + (ServiceColor is { Length: > 0 } color ? $" ({color})" : "");
}

/// <summary>What a passed test run reports.</summary>
/// <param name="Run">The run.</param>
/// <param name="ContainerName">The (now removed) container's name.</param>
/// <param name="Duration">From start to exit.</param>
/// <param name="OutputLines">How many output lines the tests wrote.</param>
public sealed record TestRunResult(TestRun Run, string ContainerName, TimeSpan Duration, int OutputLines);
