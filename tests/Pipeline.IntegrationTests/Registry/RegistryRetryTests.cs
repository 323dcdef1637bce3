using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>
/// Transient registry failures (an etcd leader change, a Consul without a leader, a reset connection) are retried with
/// backoff within a bounded time; other failures fail at once. A relay in front of the real etcd (and of the Consul
/// stand-in) fails the first N requests.
/// </summary>
[TestFixture]
public sealed class RegistryRetryTests
{
    private static readonly RegistryRetry ShortRetry = new() { MaxElapsed = TimeSpan.FromSeconds(3), FirstDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) };
    private string _key = null!;

    [SetUp]
    public void UniqueKey() => _key = $"pipeline-test/{TestEnvironment.UniqueName("retry")}/k";

    [TearDown]
    public async Task RemoveKey()
    {
        using var registry = ServiceRegistries.Create(TestEnvironment.Defaults);
        await registry.DeleteAsync(_key);
    }

    [TestCase(RelayFailure.EtcdLeaderChanged)]
    [TestCase(RelayFailure.ConnectionReset)]
    public async Task Should_Retry_Until_Etcd_Answers_When_It_Fails_Transiently(RelayFailure failure)
    {
        // Given etcd behind a relay whose first 3 requests fail
        using var relay = new FlakyRelay(TestEnvironment.Etcd, failure, failures: 3);
        using var registry = Etcd(relay.Address, ShortRetry);

        // When
        await registry.PutAsync(_key, "written through a flaky path");

        // Then the write went through after the failures, and reads back
        (await registry.GetAsync(_key)).ShouldBe("written through a flaky path");
        relay.Requests.ShouldBeGreaterThanOrEqualTo(3 + 2);
    }

    [Test]
    public async Task Should_Retry_Until_Consul_Answers_When_It_Has_No_Leader_For_A_While()
    {
        // Given the Consul stand-in behind a relay whose first 2 requests answer 500 "No cluster leader"
        using var consul = new FakeConsulServer();
        using var relay = new FlakyRelay(consul.Address, RelayFailure.ConsulNoLeader, failures: 2);
        using var registry = new ConsulRegistry(relay.Address, retry: ShortRetry);

        // When
        await registry.PutAsync("pipeline-test/retry", "v");

        // Then
        (await registry.GetAsync("pipeline-test/retry")).ShouldBe("v");
        relay.Requests.ShouldBeGreaterThan(2);
    }

    [Test]
    public async Task Should_Fail_At_Once_When_The_Failure_Is_No_Passing_Fault()
    {
        // Given a relay whose first answer is etcd's "permission denied"
        using var relay = new FlakyRelay(TestEnvironment.Etcd, RelayFailure.EtcdPermissionDenied, failures: 1);
        using var registry = Etcd(relay.Address, ShortRetry);

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => registry.GetAsync(_key));

        // Then it was asked once, and the answer is reported
        error.Message.ShouldBe($"etcd at {relay.Address.ToString().TrimEnd('/')} refused to get '{_key}': etcdserver: permission denied (code 7)");
        relay.Requests.ShouldBe(1);
    }

    [Test]
    public async Task Should_Give_Up_With_The_Last_Failure_When_Etcd_Stays_Unavailable()
    {
        // Given a relay that never stops failing
        using var relay = new FlakyRelay(TestEnvironment.Etcd, RelayFailure.EtcdLeaderChanged, failures: int.MaxValue);
        using var registry = Etcd(relay.Address, ShortRetry);

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => registry.GetAsync(_key));

        // Then it tried more than once, stopped, and says what etcd answered last
        error.Message.ShouldBe($"etcd at {relay.Address.ToString().TrimEnd('/')} refused to get '{_key}': etcdserver: leader changed (code 14)");
        relay.Requests.ShouldBeGreaterThan(1);
    }

    [Test]
    public async Task Should_Not_Retry_A_Ping()
    {
        // Given a relay whose first request fails
        using var relay = new FlakyRelay(TestEnvironment.Etcd, RelayFailure.EtcdLeaderChanged, failures: 1);
        using var registry = Etcd(relay.Address, ShortRetry);

        // When / Then: a check reports the state now
        await Should.ThrowAsync<ServiceRegistryException>(() => registry.PingAsync());
        relay.Requests.ShouldBe(1);
    }

    private static EtcdRegistry Etcd(Uri endpoint, RegistryRetry retry) =>
        new([endpoint], credentials: ServiceRegistries.EtcdCredentialsOf(TestEnvironment.Defaults), retry: retry);
}
