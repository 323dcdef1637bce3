using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>
/// The registry contract against <see cref="FakeConsulServer"/>, since no Consul server can run here. The fake
/// is configured like a Consul server with <c>session_ttl_min = 1s</c> so the expiry test stays short.
/// </summary>
[TestFixture]
public sealed class ConsulRegistryContractTests : RemoteServiceRegistryContract
{
    private static readonly TimeSpan SessionTtlMin = TimeSpan.FromSeconds(1);
    private FakeConsulServer _consul = null!;

    [OneTimeSetUp]
    public void StartFakeConsul() => _consul = new FakeConsulServer(SessionTtlMin);

    [OneTimeTearDown]
    public void StopFakeConsul() => _consul.Dispose();

    protected override Uri Endpoint => _consul.Address;

    protected override IServiceRegistry CreateRegistry(IReadOnlyList<Uri> endpoints, TimeSpan? timeout = null) =>
        new ConsulRegistry(endpoints, timeout: timeout ?? TimeSpan.FromSeconds(5), minimumSessionTtl: SessionTtlMin, retry: ContractRetry);

    // Consul may take up to twice the TTL to invalidate a session.
    protected override TimeSpan ExpiryDeadline(TimeSpan ttl) => ttl * 2 + TimeSpan.FromSeconds(5);

    [Test]
    public async Task Should_Send_Acl_Token_And_Keep_It_Out_Of_Messages()
    {
        // Given: a Consul with ACLs that only accepts one token
        const string token = "3f1b0c2e-secret-token";
        using var secured = new FakeConsulServer(SessionTtlMin, requiredToken: token);
        using var withToken = new ConsulRegistry(secured.Address, token, minimumSessionTtl: SessionTtlMin);
        using var withoutToken = new ConsulRegistry(secured.Address, minimumSessionTtl: SessionTtlMin);
        using var wrongToken = new ConsulRegistry(secured.Address, "not-" + token, minimumSessionTtl: SessionTtlMin);

        // When
        await withToken.PutAsync("pipeline-test/acl", "v");
        var denied = await Should.ThrowAsync<ServiceRegistryException>(() => withoutToken.GetAsync("pipeline-test/acl"));
        var wrong = await Should.ThrowAsync<ServiceRegistryException>(() => wrongToken.GetAsync("pipeline-test/acl"));

        // Then
        (await withToken.GetAsync("pipeline-test/acl")).ShouldBe("v");
        secured.TokensSeen.ShouldContain(token);
        denied.Message.ShouldBe($"Consul at {secured.Address.ToString().TrimEnd('/')} refused to get 'pipeline-test/acl': HTTP 403: Permission denied");
        wrong.Message.ShouldNotContain(token);
        withToken.Description.ShouldNotContain(token);
    }

    [Test]
    public async Task Should_Round_Ttl_Up_To_Servers_Minimum_When_Granting_A_Shorter_Lease()
    {
        // Given: a server with Consul's default session_ttl_min of 10 s
        using var defaults = new FakeConsulServer();
        using var registry = new ConsulRegistry(defaults.Address);
        using var tooEager = new ConsulRegistry(defaults.Address, minimumSessionTtl: TimeSpan.FromSeconds(1));

        // When
        var lease = await registry.GrantLeaseAsync(TimeSpan.FromSeconds(2));
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => tooEager.GrantLeaseAsync(TimeSpan.FromSeconds(2)));

        // Then
        (await registry.KeepAliveAsync(lease)).ShouldBeTrue();
        error.Message.ShouldContain("refused to create a session with a TTL of 2 s: HTTP 500: Invalid Session TTL");
    }

    [Test]
    public void Should_Map_Session_Uuid_To_Positive_Lease_Id_From_Its_First_64_Bits()
    {
        // When / Then
        ConsulRegistry.LeaseIdOf("adf4238a-882b-9ddc-4a9d-5b6758e4159e").ShouldBe(0x2df4238a882b9ddcL);
        ConsulRegistry.LeaseIdOf("00000000-0000-0001-ffff-ffffffffffff").ShouldBe(1L);
    }

    [Test]
    public void Should_Escape_Each_Key_Segment_When_Building_The_Kv_Path()
    {
        // When / Then
        ConsulRegistry.KvPath("pipeline/services/hello world/a?b").ShouldBe("v1/kv/pipeline/services/hello%20world/a%3Fb");
    }
}
