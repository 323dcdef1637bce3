using Microsoft.Extensions.Time.Testing;
using Pipeline.Locking;
using Pipeline.Registry;
using Pipeline.Testing.Support;

namespace Pipeline.Tests.Locking;

/// <summary>The deploy lock as a fence (issue 9 item 9), on an in-memory registry whose leases expire on a fake clock.</summary>
public sealed class DeploymentLockFencingTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(9);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Test]
    public async Task Should_Declare_The_Lock_Lost_Before_The_Registry_Can_Give_It_Away_When_Renewals_Fail()
    {
        // Given a lock held on a registry whose leases expire on the test's clock
        var time = new FakeTimeProvider();
        using var registry = new InMemoryRegistry(time: time);
        await using var held = await DeploymentLock.AcquireAsync(registry, "p", LockHolder.ForThisProcess("hello", "d1", Ttl, time), Ttl, TimeSpan.Zero, time);
        bool? keyThereWhenLost = null;
        DateTimeOffset? lostAt = null;
        held.Lost.Register(() =>
        {
            lostAt = time.GetUtcNow();
            keyThereWhenLost = registry.Snapshot().ContainsKey(held.Key);
        });
        var acquiredAt = time.GetUtcNow();

        // When the registry stops answering renewals, and time passes one renewal at a time
        var attempts = 0;
        registry.Refuse = operation =>
        {
            if (!operation.StartsWith("renew lease", StringComparison.Ordinal))
            {
                return false;
            }

            Interlocked.Increment(ref attempts);
            return true;
        };
        for (var tick = 1; lostAt is null && tick <= 8; tick++)
        {
            time.Advance(held.RenewEvery);
            await WaitUntilAsync(() => Volatile.Read(ref attempts) >= tick || lostAt is not null);
        }

        // Then it was declared lost while the registry still held it for this run: before the lease could expire
        lostAt.ShouldNotBeNull("the lock was never declared lost");
        keyThereWhenLost.ShouldBe(true);
        (lostAt.Value - acquiredAt).ShouldBeLessThan(Ttl);
        held.LostReason.ShouldBe(
            "The deploy lock of hello was lost: it could not be renewed for 6 s of its 9 s TTL " +
            $"(Could not reach the in-memory registry memory to renew lease {held.LeaseId}: it was told to refuse.); it is given up before the registry can give it to another run.");
    }

    [Test]
    public async Task Should_Refuse_Every_Write_Of_A_Run_That_Lost_Its_Lock_To_Another_Run()
    {
        // Given a run holding the lock, writing through the fenced registry
        using var registry = new InMemoryRegistry();
        await using var first = await DeploymentLock.AcquireAsync(registry, "p", LockHolder.ForThisProcess("hello", "first", Ttl), Ttl, TimeSpan.Zero);
        var fenced = new FencedServiceRegistry(registry.Connect(), () => first, "hello");
        await fenced.PutAsync("p/services/hello/color", "green");

        // When its lease goes (expired, or revoked behind its back) and a second run takes the lock and writes
        await registry.RevokeLeaseAsync(first.LeaseId);
        await using var second = await DeploymentLock.AcquireAsync(registry, "p", LockHolder.ForThisProcess("hello", "second", Ttl), Ttl, TimeSpan.Zero);
        await new FencedServiceRegistry(registry, () => second, "hello").PutAsync("p/services/hello/color", "blue");

        // Then the first run's next writes are refused by the registry before its keep-alive noticed anything, the lock is
        // declared lost, and the second run's value stays
        first.LostReason.ShouldBeNull();
        var put = await Should.ThrowAsync<DeploymentLockLostException>(() => fenced.PutAsync("p/services/hello/color", "green"));
        put.Message.ShouldBe($"The deploy lock of hello was lost: in-memory registry memory refused to put 'p/services/hello/color' because p/locks/hello is no longer bound to this run's lease {first.LeaseId:x}.");
        first.Lost.IsCancellationRequested.ShouldBeTrue();
        await Should.ThrowAsync<DeploymentLockLostException>(() => fenced.DeleteAsync("p/services/hello/color"));
        await Should.ThrowAsync<DeploymentLockLostException>(() => fenced.DeletePrefixAsync("p/services/hello/"));
        (await registry.GetAsync("p/services/hello/color")).ShouldBe("blue");
    }

    [Test]
    public async Task Should_Refuse_A_Write_Without_The_Lock_Before_It_Reaches_The_Registry()
    {
        // Given
        using var registry = new InMemoryRegistry();
        var fenced = new FencedServiceRegistry(registry, () => null, "hello");

        // When / Then
        var error = await Should.ThrowAsync<DeploymentLockNotHeldException>(() => fenced.PutAsync("p/journal/hello/000001", "{}"));
        error.Message.ShouldBe("Refused to put 'p/journal/hello/000001': this run does not hold the deploy lock of hello, and every registry write of a run is made holding it.");
        registry.Snapshot().ShouldBeEmpty();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the keep-alive loop did not run");
            await Task.Delay(5);
        }
    }
}
