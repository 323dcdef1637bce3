using System.Net;
using Pipeline.Docker;

namespace Pipeline.Configuration;

/// <summary>Secrets (environment or file only, never the command line) and transport rules (no credentials in clear).</summary>
public static partial class OptionResolver
{
    /// <summary>
    /// A secret option: read from <c>PIPELINE_{NAME}</c> or from the file <c>--{name}-file=PATH</c>
    /// (<c>PIPELINE_{NAME}_FILE</c>); refused on the command line, where every user of the machine can read it.
    /// <paramref name="ApplyFile"/>, when set, keeps the file's path to be read later instead of its content now.
    /// </summary>
    private sealed record Secret(
        string Name,
        Func<DeploymentOptions, string, DeploymentOptions> Apply,
        Func<DeploymentOptions, string, DeploymentOptions>? ApplyFile = null);

    private static readonly Secret[] Secrets =
    [
        new("registry-password", (o, v) => o with { RegistryPassword = v }),
        new("consul-token", (o, v) => o with { ConsulToken = v }),
        new("etcd-password", (o, v) => o with { EtcdPassword = v, EtcdPasswordFile = null }, (o, path) => o with { EtcdPasswordFile = path, EtcdPassword = null }),
    ];

    /// <summary>True for an option that holds a secret (its value is never shown).</summary>
    public static bool IsSecret(string option) => Secrets.Any(s => s.Name == option);

    private static DeploymentOptions ResolveSecrets(
        DeploymentOptions options,
        Func<string, string?> getArgument,
        Func<string, string?> getEnvironment,
        string workingDirectory,
        List<string> problems)
    {
        foreach (var secret in Secrets)
        {
            var variable = EnvironmentVariableFor(secret.Name);
            var fileOption = secret.Name + "-file";
            if (getArgument(secret.Name) is not null)
            {
                problems.Add($"--{secret.Name}: a secret on the command line can be read by every user of this machine (ps, /proc), so it is refused; set {variable} in the environment or give --{fileOption}=PATH (a file only you can read)");
                continue;
            }

            var fromEnvironment = getEnvironment(variable);
            var file = getArgument(fileOption) ?? getEnvironment(EnvironmentVariableFor(fileOption));
            if (fromEnvironment is not null && file is { Length: > 0 })
            {
                problems.Add($"{variable} and --{fileOption}: both are set; give the secret one way only");
                continue;
            }

            if (fromEnvironment is not null)
            {
                options = secret.Apply(options, fromEnvironment);
            }
            else if (file is { Length: > 0 })
            {
                var path = Path.GetFullPath(file.Trim(), workingDirectory);
                if (secret.ApplyFile is { } applyFile)
                {
                    options = applyFile(options, path);
                    continue;
                }

                try
                {
                    options = secret.Apply(options, File.ReadAllText(path).TrimEnd('\r', '\n'));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    problems.Add($"--{fileOption}={path}: cannot read the file ({e.Message.TrimEnd('.')}); point it at a readable file that holds only the secret");
                }
            }
        }

        return options;
    }

    private static IEnumerable<string> ValidateTransport(DeploymentOptions o)
    {
        if ((o.EtcdUsername is null) != (o.EtcdPassword is null && o.EtcdPasswordFile is null))
        {
            yield return "--etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file): set both or neither";
        }

        if (o.EtcdPassword is not null && o.EtcdPasswordFile is not null)
        {
            yield return $"PIPELINE_ETCD_PASSWORD and --etcd-password-file={o.EtcdPasswordFile}: both are set; give the password one way only";
        }

        foreach (var registry in o.InsecureRegistries.Where(r => !RegistryHost().IsMatch(r)))
        {
            yield return $"--insecure-registry={Escape(registry)}: an image registry is host[:port]; e.g. --insecure-registry=registry.internal:5000";
        }

        if (o.ImageRegistryCa is not null && !IsReadableFile(o.ImageRegistryCa))
        {
            yield return $"--image-registry-ca={o.ImageRegistryCa}: the file does not exist or cannot be read; point it at a PEM file of CA certificates";
        }

        foreach (var (endpoint, option, variables) in new[]
                 {
                     (o.CdEngine, "--docker-host", "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"),
                     (o.ProductionEngine, "--production-docker-host", "PRODUCTION_DOCKER_TLS_VERIFY=1 and PRODUCTION_DOCKER_CERT_PATH"),
                 })
        {
            if (endpoint.Host.Scheme == "tcp" && !endpoint.TlsVerify && !o.AllowInsecureEngine && !IsLoopback(endpoint.Host.Host))
            {
                yield return $"{option}={endpoint.Host.OriginalString}: tcp:// without TLS sends everything to the engine in clear, registry credentials included; set {variables} (ca.pem, cert.pem, key.pem), or accept the risk with --allow-insecure-engine";
            }
        }
    }

    /// <summary>True for <c>localhost</c> and loopback addresses (127.0.0.0/8, ::1): traffic to them never leaves the machine.</summary>
    internal static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
