using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Provisioning;

namespace Build.Tasks;

/// <summary>
/// Makes sure the Docker engine, the image registry and etcd answer (installing and starting them on loopback when
/// missing), then that the base images exist (busybox:latest, the proxy image). Fast when everything is there.
/// Needs nothing of the context but its arguments and log, so it works with any Frosting context.
/// </summary>
/// <remarks>
/// Options: <c>--image-registry=HOST:PORT</c>, <c>--etcd=URL</c>, <c>--state-dir=PATH</c>, <c>--proxy-image=REF</c>,
/// <c>--busybox-image=REF</c>, each also as <c>PIPELINE_IMAGE_REGISTRY</c>, <c>PIPELINE_ETCD</c>, … ; the engine from
/// DOCKER_HOST (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). Addresses that are not on loopback are only checked.
/// </remarks>
[TaskName("ProvisionLocalServices")]
[TaskDescription("Checks (and on a fresh Debian machine installs and starts) dockerd, the image registry and etcd on loopback, then the base images.")]
public sealed class ProvisionLocalServices : AsyncFrostingTask
{
    /// <inheritdoc />
    public override async Task RunAsync(ICakeContext context)
    {
        void Log(string line) => context.Log.Information("{0}", line);

        try
        {
            var registry = Option(context, "image-registry") ?? "127.0.0.1:5000";
            var services = new LocalServicesOptions
            {
                Docker = DockerEndpoint.FromEnvironment(Environment.GetEnvironmentVariable),
                ImageRegistry = registry,
                Etcd = new Uri(Option(context, "etcd") ?? "http://127.0.0.1:2379"),
                StateDirectory = Option(context, "state-dir") ?? "/var/lib/pipeline-local",
            };
            var images = new BaseImagesOptions
            {
                BusyboxImage = Option(context, "busybox-image") ?? "busybox:latest",
                ProxyImage = Option(context, "proxy-image") ?? $"{registry}/pipeline/proxy:bookworm",
            };

            await LocalServices.ForThisMachine(Log).EnsureAsync(services).ConfigureAwait(false);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            using var engine = new DockerEngine(services.Docker);
            await new BaseImages(engine, new ProcessCommandRunner(), Log).EnsureAsync(images).ConfigureAwait(false);
            Log($"Base images checked in {watch.ElapsedMilliseconds} ms.");
        }
        catch (Exception e) when (e is ProvisioningException or ArgumentException or FormatException or DockerEngineException)
        {
            throw new CakeException(1, e.Message);
        }
    }

    /// <summary><c>--name=value</c>, else the environment variable <c>PIPELINE_NAME</c>, else null.</summary>
    private static string? Option(ICakeContext context, string name)
    {
        if (context.Arguments.HasArgument(name))
        {
            return context.Arguments.GetArgument(name);
        }

        var variable = "PIPELINE_" + name.ToUpperInvariant().Replace('-', '_');
        return Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null;
    }
}
