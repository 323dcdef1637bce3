using Cake.Core.Diagnostics;
using Pipeline.Docker;

namespace Pipeline.Tasks;

/// <summary>The two images of a release (the service image and the test image) and how a redeploy takes them from the registry.</summary>
internal static class ReleaseImages
{
    /// <summary>The service image: <c>{registry}/{service}:{version}</c>.</summary>
    public static ImageRef Service(DeploymentContext context) =>
        ImageRef.Parse($"{context.Options.ImageRegistry}/{context.Service}:{context.Version}");

    /// <summary>The test image: <c>{registry}/{service}/tests:{version}</c> (see <see cref="PreDeploymentTests.TestImage"/>).</summary>
    public static ImageRef Tests(DeploymentContext context) =>
        PreDeploymentTests.TestImage(context.Options.ImageRegistry, context.Service, context.Version);

    /// <summary>Pulls an image of an earlier deploy onto the CD engine (<c>--from-registry</c>), showing progress.</summary>
    public static Task PullAsync(DeploymentContext context, ImageRef image, string prefix, CancellationToken ct) =>
        context.CdEngine.PullImageAsync(image, context.RegistryCredentials, new LogProgress(context.Log, prefix), ct);

    /// <summary>
    /// Reads the service image on the CD engine: the port the release listens on (<see cref="ServicePorts.Resolve"/>), and
    /// its registry digest when it came from the registry.
    /// </summary>
    public static async Task InspectServiceImageAsync(DeploymentContext context, ImageRef image, CancellationToken ct)
    {
        var info = await context.CdEngine.InspectImageAsync(image.ToString(), ct)
            ?? throw new DockerEngineException($"The image {image} is not on the CD engine {context.CdEngine.Endpoint} right after it was built or pulled.");
        context.State.ServicePort = ServicePorts.Resolve(context.Options.ServicePort, info, image.ToString(), Configuration.DeploymentOptions.DefaultServicePort);
        if (context.Options.ServicePort is null)
        {
            context.Log.Information(info.ExposedPorts.Count == 1
                ? $"{image} exposes port {context.ServicePort}: the release listens there (--service-port overrides)."
                : $"{image} exposes no port: the release listens on {context.ServicePort} (set --service-port, or EXPOSE the port in the Dockerfile).");
        }

        if (context.Options.FromRegistry)
        {
            context.State.ImageDigest = info.RepoDigests.Select(d => d[(d.IndexOf('@') + 1)..]).FirstOrDefault(d => d.StartsWith("sha256:", StringComparison.Ordinal));
        }
    }
}
