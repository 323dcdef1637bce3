using Pipeline.Registry;
using Pipeline.Testing.Support;

namespace Pipeline.Tests.Registry;

/// <summary>The registry contract against the in-memory registry the fast tests use, so what they show holds for etcd and Consul too.</summary>
[TestFixture]
public sealed class InMemoryRegistryContractTests : ServiceRegistryContract
{
    private readonly InMemoryRegistry _store = new("contract");

    [OneTimeTearDown]
    public void DisposeStore() => _store.Dispose();

    protected override string Address => "in-memory registry contract";

    protected override IServiceRegistry CreateClient() => _store.Connect();

    // Leases expire on the clock itself, checked at every call.
    protected override TimeSpan ExpiryDeadline(TimeSpan ttl) => ttl + TimeSpan.FromSeconds(2);

    [Test]
    public async Task Should_Refuse_The_Calls_It_Is_Told_To_Naming_The_Registry_And_Operation()
    {
        // Given a registry told to refuse writes under one prefix
        using var registry = new InMemoryRegistry("refusing");
        var key = $"pipeline-test/{Guid.NewGuid():N}/journal/1";
        registry.Refuse = operation => operation.StartsWith("put 'pipeline-test/", StringComparison.Ordinal);

        // When / Then: writes fail as if the registry did not answer, reads still work, and nothing was written
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => registry.PutAsync(key, "v"));
        error.Message.ShouldBe($"Could not reach the in-memory registry refusing to put '{key}': it was told to refuse.");
        (await registry.GetAsync(key)).ShouldBeNull();
    }
}
