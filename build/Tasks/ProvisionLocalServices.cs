using System.Diagnostics;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Provisioning;
using Pipeline.Registry;

namespace Build.Tasks;

/// <summary>
/// Makes sure the CD engine, the image registry, etcd and Prometheus answer (installing and starting them on loopback
/// when missing), then that the base images exist (busybox:latest, the proxy image, the database image). Fast when everything is there.
/// Addresses come from the deployment options (--docker-host, --image-registry, --registry-endpoints,
/// --prometheus-url, --proxy-image); <c>--state-dir</c> (default /var/lib/pipeline-local) holds the data, logs and
/// generated secrets of what it starts. Addresses that are not on loopback are only checked. An etcd it starts gets
/// authentication (root and the user <c>pipeline</c>, passwords in <c>{state-dir}/secrets</c>); <c>--secure-etcd=true</c>
/// also turns it on in a local etcd that already runs without it.
/// </summary>
[TaskName("ProvisionLocalServices")]
[TaskDescription("Checks (and on a fresh Debian machine installs and starts) dockerd, the image registry, etcd and Prometheus on loopback, then the base images.")]
public sealed class ProvisionLocalServices : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>Programs this build's targets use, by Debian package: base images, tests (a TLS front for the engine), Bench (load).</summary>
    private static readonly IReadOnlyDictionary<string, string> BuildTools = new Dictionary<string, string>(LocalServicesOptions.BaseImageTools)
    {
        ["socat"] = "socat",
        ["wrk"] = "wrk",
        ["promtool"] = "prometheus",
    };

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        void Log(string line) => context.Log.Information("{0}", line);

        var options = context.Options;
        if (options.RegistryKind != RegistryKind.Etcd)
        {
            throw new CakeException(1, $"--registry={options.RegistryKind}: only etcd can be provisioned here; start your Consul agent yourself.");
        }

        var stateDirectory = context.Arguments.HasArgument("state-dir") ? context.Arguments.GetArgument("state-dir") : LocalServicesOptions.DefaultStateDirectory;
        var secureEtcd = context.Arguments.HasArgument("secure-etcd") && context.Arguments.GetArgument("secure-etcd") is not ("false" or "0" or "no");
        try
        {
            var watch = Stopwatch.StartNew();
            await LocalServices.ForThisMachine(Log).EnsureAsync(
                new LocalServicesOptions
                {
                    Docker = options.CdEngine,
                    ImageRegistry = options.ImageRegistry,
                    Etcd = options.RegistryEndpoints[0],
                    StateDirectory = stateDirectory,
                    Tools = BuildTools,
                    SecureExistingEtcd = secureEtcd,
                    Prometheus = options.PrometheusUrl,
                    PrometheusRetention = TimeSpan.FromDays(Math.Max(30, options.Scaling.HistoryDays + 7)),
                },
                context.CancellationToken);
            Log($"Services checked in {watch.ElapsedMilliseconds} ms.");

            watch.Restart();
            await new BaseImages(context.CdEngine, new ProcessCommandRunner(), Log).EnsureAsync(
                new BaseImagesOptions { ProxyImage = options.ProxyImage, ProbeImage = options.ProbeImage },
                context.CancellationToken);
            Log($"Base images checked in {watch.ElapsedMilliseconds} ms.");
        }
        catch (Exception e) when (e is ProvisioningException or DockerEngineException)
        {
            throw new CakeException(1, e.Message);
        }
    }
}
