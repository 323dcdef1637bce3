using Pipeline.Configuration;

namespace Pipeline.Registry;

/// <summary>Creates the service registry client the options describe (kind, endpoints, credentials).</summary>
public static class ServiceRegistries
{
    /// <summary>An etcd or Consul client for <paramref name="options"/>, with its credentials (etcd user or Consul ACL token).</summary>
    /// <param name="options">The kind, endpoints and credentials.</param>
    /// <param name="time">The clock of the client's timeouts and retries; the system clock by default.</param>
    public static IServiceRegistry Create(DeploymentOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.RegistryKind == RegistryKind.Consul
            ? new ConsulRegistry(options.RegistryEndpoints, options.ConsulToken, timeProvider: time)
            : new EtcdRegistry(options.RegistryEndpoints, timeProvider: time, credentials: EtcdCredentialsOf(options));
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
