using Pipeline.Configuration;

namespace Pipeline.Registry;

/// <summary>Creates the service registry client the options describe (kind, endpoints, credentials).</summary>
public static class ServiceRegistries
{
    /// <summary>An etcd or Consul client for <paramref name="options"/>, with its credentials (etcd user or Consul ACL token).</summary>
    public static IServiceRegistry Create(DeploymentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.RegistryKind == "consul"
            ? new ConsulRegistry(options.RegistryEndpoints, options.ConsulToken)
            : new EtcdRegistry(options.RegistryEndpoints, credentials: EtcdCredentialsOf(options));
    }

    /// <summary>The etcd user the options name (password given or in a file), or null.</summary>
    public static EtcdCredentials? EtcdCredentialsOf(DeploymentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.EtcdUsername is not { } user ? null
            : options.EtcdPassword is { } password ? EtcdCredentials.WithPassword(user, password)
            : options.EtcdPasswordFile is { } file ? EtcdCredentials.FromFile(user, file)
            : null;
    }
}
