using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>
/// The registry contract against the real etcd the test environment provides (127.0.0.1:2379), with its user when it
/// has authentication on (as the provisioning sets it up on a fresh machine).
/// </summary>
[TestFixture]
public sealed class EtcdRegistryContractTests : RemoteServiceRegistryContract
{
    protected override Uri Endpoint => TestEnvironment.Etcd;

    protected override IServiceRegistry CreateRegistry(IReadOnlyList<Uri> endpoints, TimeSpan? timeout = null) =>
        new EtcdRegistry(endpoints, timeout: timeout ?? TimeSpan.FromSeconds(5), credentials: ServiceRegistries.EtcdCredentialsOf(TestEnvironment.Defaults), retry: ContractRetry);

    // etcd rounds a TTL up to its minimum (about 2 s) and checks expiry every 500 ms.
    protected override TimeSpan ExpiryDeadline(TimeSpan ttl) => ttl + TimeSpan.FromSeconds(8);

    [Test]
    public void Should_End_Range_After_Last_Byte_Below_FF_When_Listing_A_Prefix()
    {
        // When / Then
        EtcdRegistry.RangeEnd("svc/a/"u8.ToArray()).ShouldBe("svc/a0"u8.ToArray());
        EtcdRegistry.RangeEnd([0x61, 0xFF, 0xFF]).ShouldBe(new byte[] { 0x62 });
        EtcdRegistry.RangeEnd([0xFF]).ShouldBe(new byte[] { 0 });
        EtcdRegistry.RangeEnd([]).ShouldBe(new byte[] { 0 });
    }

    [Test]
    public async Task Should_Report_Etcds_Answer_When_It_Refuses_A_Request()
    {
        // Given: a lease id etcd never granted
        using var registry = CreateRegistry([Endpoint]);
        var key = $"pipeline-test/{TestEnvironment.UniqueName("registry")}/k";

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => registry.PutAsync(key, "v", leaseId: 0x1234_5678));

        // Then
        error.Message.ShouldBe(
            $"etcd at {Endpoint.ToString().TrimEnd('/')} refused to put '{key}' with lease {0x1234_5678}: etcdserver: requested lease not found (code 5)");
    }
}
