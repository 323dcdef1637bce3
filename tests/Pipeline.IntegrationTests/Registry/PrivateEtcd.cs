using Pipeline.Configuration;
using Pipeline.Provisioning;
using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>The user of a private etcd a test starts through the provisioning (which turns authentication on in it).</summary>
internal static class PrivateEtcd
{
    /// <summary>The pipeline's user of the etcd <paramref name="etcd"/> describes, its password read from its state folder when needed.</summary>
    public static EtcdCredentials Credentials(LocalServicesOptions etcd) =>
        EtcdCredentials.FromFile(LocalServicesOptions.EtcdUser, etcd.EtcdPasswordFile);

    /// <summary>The pipeline's user of the etcd a provisioning run reported, or null when it has no authentication.</summary>
    public static EtcdCredentials? Credentials(LocalServicesReport report) =>
        report.EtcdPasswordFile is { } file ? EtcdCredentials.FromFile(LocalServicesOptions.EtcdUser, file) : null;

    /// <summary><paramref name="options"/> pointed at the private etcd, with its user.</summary>
    public static DeploymentOptions Use(DeploymentOptions options, LocalServicesOptions etcd) => options with
    {
        RegistryEndpoints = [etcd.Etcd],
        EtcdUsername = LocalServicesOptions.EtcdUser,
        EtcdPassword = null,
        EtcdPasswordFile = etcd.EtcdPasswordFile,
    };
}
