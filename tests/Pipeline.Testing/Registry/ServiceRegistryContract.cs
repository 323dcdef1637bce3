using NUnit.Framework;
using Pipeline.Registry;
using Shouldly;

namespace Pipeline.Testing.Support;

/// <summary>
/// What every <see cref="IServiceRegistry"/> must do: keys, prefixes, compare-and-swap, leases. Each implementation
/// (etcd, Consul, the in-memory one) runs these same tests through a concrete fixture that says how to reach it; one
/// reached over the network also runs <see cref="RemoteServiceRegistryContract"/>. Every test works under its own
/// unique key prefix and removes it afterwards, so fixtures may share a registry with other runs.
/// </summary>
public abstract class ServiceRegistryContract
{
    /// <summary>A lease short enough for one expiry test, at or above every implementation's minimum TTL.</summary>
    private static readonly TimeSpan ShortTtl = TimeSpan.FromSeconds(2);

    private IServiceRegistry _registry = null!;
    private string _prefix = null!;
    private readonly List<long> _leases = [];

    /// <summary>What the registry's <see cref="IServiceRegistry.Description"/> names it by (e.g. its address).</summary>
    protected abstract string Address { get; }

    /// <summary>A new client of the registry under test (as another process would have).</summary>
    protected abstract IServiceRegistry CreateClient();

    /// <summary>The longest a lease of <paramref name="ttl"/> may take to expire in this implementation.</summary>
    protected abstract TimeSpan ExpiryDeadline(TimeSpan ttl);

    protected IServiceRegistry Registry => _registry;

    [SetUp]
    public void CreateRegistryUnderUniquePrefix()
    {
        _registry = CreateClient();
        _prefix = $"pipeline-test/{TestEnvironment.UniqueName("registry")}/";
    }

    [TearDown]
    public async Task RemoveWhatTheTestWrote()
    {
        try
        {
            foreach (var lease in _leases) await _registry.RevokeLeaseAsync(lease);
            await _registry.DeletePrefixAsync(_prefix);
        }
        finally
        {
            _registry.Dispose();
        }
    }

    /// <summary>A key under this test's own prefix.</summary>
    protected string Key(string name) => _prefix + name;

    private async Task<long> GrantAsync(TimeSpan ttl)
    {
        var lease = await _registry.GrantLeaseAsync(ttl);
        _leases.Add(lease);
        return lease;
    }

    // ---- Ping ---------------------------------------------------------------------------------------------------

    [Test]
    public async Task Should_Answer_Ping_When_Registry_Runs()
    {
        // When / Then
        await Should.NotThrowAsync(() => _registry.PingAsync());
        _registry.Description.ShouldContain(Address);
    }

    // ---- Get / Put ----------------------------------------------------------------------------------------------

    [Test]
    public async Task Should_Return_Null_When_Key_Is_Missing()
    {
        // When
        var value = await _registry.GetAsync(Key("missing"));

        // Then
        value.ShouldBeNull();
    }

    [Test]
    public async Task Should_Return_Value_When_Key_Was_Put()
    {
        // Given
        const string json = """{"colour":"blue","note":"naïve ✓ 10% /a b?c=d"}""";

        // When
        await _registry.PutAsync(Key("services/hello/live"), json);

        // Then
        (await _registry.GetAsync(Key("services/hello/live"))).ShouldBe(json);
    }

    [Test]
    public async Task Should_Keep_Keys_Intact_When_They_Hold_Spaces_Queries_And_Non_Ascii()
    {
        // Given
        var odd = Key("svc/hello world/ü?x=1&y#z");

        // When
        await _registry.PutAsync(odd, "v");

        // Then
        (await _registry.GetAsync(odd)).ShouldBe("v");
        (await _registry.GetPrefixAsync(Key("svc/"))).Keys.ShouldBe([odd]);
    }

    [Test]
    public async Task Should_Return_Empty_String_When_Empty_Value_Was_Put()
    {
        // When
        await _registry.PutAsync(Key("empty"), string.Empty);

        // Then
        (await _registry.GetAsync(Key("empty"))).ShouldBe(string.Empty);
    }

    [Test]
    public async Task Should_Return_Latest_Value_When_Key_Is_Put_Twice()
    {
        // Given
        await _registry.PutAsync(Key("colour"), "blue");

        // When
        await _registry.PutAsync(Key("colour"), "green");

        // Then
        (await _registry.GetAsync(Key("colour"))).ShouldBe("green");
    }

    // ---- Prefixes -----------------------------------------------------------------------------------------------

    [Test]
    public async Task Should_List_Prefix_Ordered_By_Key_Without_Sibling_Prefixes()
    {
        // Given: put out of order, with siblings that share the prefix's text but not its path
        await _registry.PutAsync(Key("svc/a/z"), "3");
        await _registry.PutAsync(Key("svc/ab"), "sibling");
        await _registry.PutAsync(Key("svc/a/b"), "1");
        await _registry.PutAsync(Key("svc/a/m/n"), "2");
        await _registry.PutAsync(Key("svc/a"), "parent");
        await _registry.PutAsync(Key("svc/b/a"), "other");

        // When
        var listed = await _registry.GetPrefixAsync(Key("svc/a/"));

        // Then
        listed.Keys.ShouldBe([Key("svc/a/b"), Key("svc/a/m/n"), Key("svc/a/z")]);
        listed.Values.ShouldBe(["1", "2", "3"]);
    }

    [Test]
    public async Task Should_List_Keys_Sharing_Text_When_Prefix_Has_No_Slash()
    {
        // Given
        await _registry.PutAsync(Key("svc/ab"), "2");
        await _registry.PutAsync(Key("svc/a"), "1");
        await _registry.PutAsync(Key("svc/b"), "3");

        // When
        var listed = await _registry.GetPrefixAsync(Key("svc/a"));

        // Then
        listed.Keys.ShouldBe([Key("svc/a"), Key("svc/ab")]);
    }

    [Test]
    public async Task Should_Return_Empty_When_Prefix_Has_No_Keys()
    {
        // When
        var listed = await _registry.GetPrefixAsync(Key("nothing/"));

        // Then
        listed.ShouldBeEmpty();
    }

    // ---- Delete -------------------------------------------------------------------------------------------------

    [Test]
    public async Task Should_Delete_Only_That_Key_When_Deleting_A_Key()
    {
        // Given
        await _registry.PutAsync(Key("svc/a"), "1");
        await _registry.PutAsync(Key("svc/ab"), "2");
        await _registry.PutAsync(Key("svc/a/x"), "3");

        // When
        await _registry.DeleteAsync(Key("svc/a"));

        // Then
        (await _registry.GetAsync(Key("svc/a"))).ShouldBeNull();
        (await _registry.GetPrefixAsync(Key("svc/"))).Keys.ShouldBe([Key("svc/a/x"), Key("svc/ab")]);
    }

    [Test]
    public async Task Should_Not_Fail_When_Deleting_A_Missing_Key_Twice()
    {
        // Given
        await _registry.PutAsync(Key("once"), "1");
        await _registry.DeleteAsync(Key("once"));

        // When / Then
        await Should.NotThrowAsync(() => _registry.DeleteAsync(Key("once")));
        await Should.NotThrowAsync(() => _registry.DeleteAsync(Key("never")));
        (await _registry.GetAsync(Key("once"))).ShouldBeNull();
    }

    [Test]
    public async Task Should_Delete_Every_Key_Under_Prefix_And_Keep_Siblings()
    {
        // Given
        await _registry.PutAsync(Key("svc/a/1"), "1");
        await _registry.PutAsync(Key("svc/a/2/3"), "2");
        await _registry.PutAsync(Key("svc/ab"), "sibling");
        await _registry.PutAsync(Key("svc/a"), "parent");

        // When
        await _registry.DeletePrefixAsync(Key("svc/a/"));

        // Then
        (await _registry.GetPrefixAsync(Key("svc/"))).ShouldBe(
            new Dictionary<string, string> { [Key("svc/a")] = "parent", [Key("svc/ab")] = "sibling" });
    }

    [Test]
    public void Should_Refuse_To_Delete_Everything_When_Prefix_Is_Empty()
    {
        // When / Then
        Should.Throw<ArgumentException>(() => _registry.DeletePrefixAsync(string.Empty));
    }

    // ---- Compare and swap ---------------------------------------------------------------------------------------

    [Test]
    public async Task Should_Swap_When_Expected_Value_Matches()
    {
        // Given
        await _registry.PutAsync(Key("live"), "blue");

        // When
        var swapped = await _registry.CompareAndSwapAsync(Key("live"), "blue", "green");

        // Then
        swapped.ShouldBeTrue();
        (await _registry.GetAsync(Key("live"))).ShouldBe("green");
    }

    [Test]
    public async Task Should_Not_Swap_When_Expected_Value_Differs()
    {
        // Given
        await _registry.PutAsync(Key("live"), "green");

        // When
        var swapped = await _registry.CompareAndSwapAsync(Key("live"), "blue", "red");

        // Then
        swapped.ShouldBeFalse();
        (await _registry.GetAsync(Key("live"))).ShouldBe("green");
    }

    [Test]
    public async Task Should_Not_Swap_When_Expected_Value_But_Key_Is_Missing()
    {
        // When
        var swapped = await _registry.CompareAndSwapAsync(Key("live"), "blue", "green");

        // Then
        swapped.ShouldBeFalse();
        (await _registry.GetAsync(Key("live"))).ShouldBeNull();
    }

    [Test]
    public async Task Should_Create_When_Key_Must_Be_Absent_And_Is()
    {
        // When
        var created = await _registry.CompareAndSwapAsync(Key("lock"), null, "owner-1");

        // Then
        created.ShouldBeTrue();
        (await _registry.GetAsync(Key("lock"))).ShouldBe("owner-1");
    }

    [Test]
    public async Task Should_Not_Create_When_Key_Must_Be_Absent_But_Exists()
    {
        // Given
        await _registry.PutAsync(Key("lock"), "owner-1");

        // When
        var created = await _registry.CompareAndSwapAsync(Key("lock"), null, "owner-2");

        // Then
        created.ShouldBeFalse();
        (await _registry.GetAsync(Key("lock"))).ShouldBe("owner-1");
    }

    [Test]
    public async Task Should_Let_Exactly_One_Win_When_Many_Create_The_Same_Key_At_Once()
    {
        // Given
        var contenders = Enumerable.Range(0, 8).Select(i => $"owner-{i}").ToArray();

        // When
        var results = await Task.WhenAll(contenders.Select(owner => _registry.CompareAndSwapAsync(Key("lock"), null, owner)));

        // Then
        results.Count(won => won).ShouldBe(1);
        (await _registry.GetAsync(Key("lock"))).ShouldBe(contenders[Array.IndexOf(results, true)]);
    }

    // ---- Writes conditioned on holding a lock (fencing) ---------------------------------------------------------

    /// <summary>A lock held the way the deploy lock is: its key created if absent, bound to a fresh lease.</summary>
    private async Task<LeaseFence> HoldLockAsync(string name)
    {
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));
        (await _registry.CompareAndSwapAsync(Key(name), null, "holder", lease)).ShouldBeTrue();
        return new LeaseFence(Key(name), lease);
    }

    [Test]
    public async Task Should_Put_And_Delete_When_The_Fence_Holds()
    {
        // Given
        var fence = await HoldLockAsync("locks/svc");
        await _registry.PutAsync(Key("journal/svc/2"), "old");

        // When
        var put = await _registry.PutIfHeldAsync(fence, Key("journal/svc/1"), "step");
        var deleted = await _registry.DeleteIfHeldAsync(fence, Key("journal/svc/2"));
        var deletedMissing = await _registry.DeleteIfHeldAsync(fence, Key("journal/svc/never"));

        // Then
        (put, deleted, deletedMissing).ShouldBe((true, true, true));
        (await _registry.GetPrefixAsync(Key("journal/"))).ShouldBe(new Dictionary<string, string> { [Key("journal/svc/1")] = "step" });

        // And a prefix goes only with the fence holding, its siblings stay
        await _registry.PutAsync(Key("journal/svcx"), "sibling");
        (await _registry.DeletePrefixIfHeldAsync(fence, Key("journal/svc/"))).ShouldBeTrue();
        (await _registry.GetPrefixAsync(Key("journal/"))).Keys.ShouldBe([Key("journal/svcx")]);
        (await _registry.GetAsync(Key("locks/svc"))).ShouldBe("holder");
    }

    [Test]
    public async Task Should_Write_Nothing_When_The_Fences_Lease_Was_Revoked()
    {
        // Given a lock whose lease is gone (expired or revoked: the lock key went with it)
        var fence = await HoldLockAsync("locks/svc");
        await _registry.PutAsync(Key("journal/svc/1"), "kept");
        await _registry.RevokeLeaseAsync(fence.LeaseId);

        // When
        var put = await _registry.PutIfHeldAsync(fence, Key("journal/svc/2"), "late");
        var deleted = await _registry.DeleteIfHeldAsync(fence, Key("journal/svc/1"));
        var cleared = await _registry.DeletePrefixIfHeldAsync(fence, Key("journal/"));

        // Then
        (put, deleted, cleared).ShouldBe((false, false, false));
        (await _registry.GetPrefixAsync(Key("journal/"))).ShouldBe(new Dictionary<string, string> { [Key("journal/svc/1")] = "kept" });
    }

    [Test]
    public async Task Should_Write_Nothing_When_Another_Holder_Took_The_Lock()
    {
        // Given a lock lost by its first holder and taken by a second, under another lease
        var first = await HoldLockAsync("locks/svc");
        await _registry.RevokeLeaseAsync(first.LeaseId);
        var second = await HoldLockAsync("locks/svc");
        await _registry.PutIfHeldAsync(second, Key("services/svc/color"), "green");

        // When the first holder writes under its old fence, from another client (another process)
        using var other = CreateClient();
        var put = await other.PutIfHeldAsync(first, Key("services/svc/color"), "blue");
        var deleted = await other.DeleteIfHeldAsync(first, Key("services/svc/color"));

        // Then nothing changed; the second holder's writes still go through
        (put, deleted).ShouldBe((false, false));
        (await _registry.GetAsync(Key("services/svc/color"))).ShouldBe("green");
        (await other.PutIfHeldAsync(second, Key("services/svc/color"), "blue")).ShouldBeTrue();
    }

    [Test]
    public async Task Should_Write_Nothing_When_The_Lock_Key_Is_Not_Bound_To_The_Lease()
    {
        // Given a lock key someone wrote without a lease, and a live lease that does not hold it
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));
        await _registry.PutAsync(Key("locks/svc"), "forged holder");

        // When / Then
        (await _registry.PutIfHeldAsync(new LeaseFence(Key("locks/svc"), lease), Key("k"), "v")).ShouldBeFalse();
        (await _registry.GetAsync(Key("k"))).ShouldBeNull();
    }

    // ---- Leases -------------------------------------------------------------------------------------------------

    [Test]
    public async Task Should_Delete_Leased_Key_At_Once_When_Lease_Is_Revoked()
    {
        // Given
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));
        await _registry.PutAsync(Key("leased"), "v", lease);
        await _registry.PutAsync(Key("unleased"), "w");

        // When
        await _registry.RevokeLeaseAsync(lease);

        // Then
        (await _registry.GetAsync(Key("leased"))).ShouldBeNull();
        (await _registry.GetAsync(Key("unleased"))).ShouldBe("w");
        (await _registry.KeepAliveAsync(lease)).ShouldBeFalse();
        await Should.NotThrowAsync(() => _registry.RevokeLeaseAsync(lease));
    }

    [Test]
    public async Task Should_Renew_Lease_When_It_Is_Alive()
    {
        // Given
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));

        // When
        var renewed = await _registry.KeepAliveAsync(lease);

        // Then
        renewed.ShouldBeTrue();
    }

    [Test]
    public async Task Should_Renew_And_Revoke_Lease_Granted_By_Another_Client()
    {
        // Given: a lease granted through one client
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));
        await _registry.PutAsync(Key("leased"), "v", lease);
        using var other = CreateClient();

        // When: another client (another process, in production) uses its id
        var renewed = await other.KeepAliveAsync(lease);
        await other.RevokeLeaseAsync(lease);

        // Then
        renewed.ShouldBeTrue();
        (await _registry.GetAsync(Key("leased"))).ShouldBeNull();
    }

    [Test]
    public async Task Should_Bind_Key_To_Lease_When_Created_If_Absent_With_Lease()
    {
        // Given
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));

        // When
        var created = await _registry.CompareAndSwapAsync(Key("lock"), null, "owner-1", lease);
        await _registry.RevokeLeaseAsync(lease);

        // Then
        created.ShouldBeTrue();
        (await _registry.GetAsync(Key("lock"))).ShouldBeNull();
    }

    [Test]
    public async Task Should_Bind_Key_To_New_Lease_When_Swapped_With_It()
    {
        // Given: a key held by one lease
        var first = await GrantAsync(TimeSpan.FromSeconds(30));
        var second = await GrantAsync(TimeSpan.FromSeconds(30));
        await _registry.PutAsync(Key("lock"), "owner-1", first);

        // When: swapped to the second lease, then the first is revoked
        var swapped = await _registry.CompareAndSwapAsync(Key("lock"), "owner-1", "owner-2", second);
        await _registry.RevokeLeaseAsync(first);

        // Then: the key lives on with the second lease, and goes with it
        swapped.ShouldBeTrue();
        (await _registry.GetAsync(Key("lock"))).ShouldBe("owner-2");
        await _registry.RevokeLeaseAsync(second);
        (await _registry.GetAsync(Key("lock"))).ShouldBeNull();
    }

    [Test]
    public async Task Should_Unbind_Key_From_Lease_When_Put_Again_Without_Lease()
    {
        // Given
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));
        await _registry.PutAsync(Key("k"), "leased", lease);

        // When
        await _registry.PutAsync(Key("k"), "kept");
        await _registry.RevokeLeaseAsync(lease);

        // Then
        (await _registry.GetAsync(Key("k"))).ShouldBe("kept");
    }

    [Test]
    public async Task Should_Fail_Naming_The_Key_When_Putting_With_A_Revoked_Lease()
    {
        // Given
        var lease = await GrantAsync(TimeSpan.FromSeconds(30));
        await _registry.RevokeLeaseAsync(lease);

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => _registry.PutAsync(Key("k"), "v", lease));

        // Then
        error.Message.ShouldContain($"'{Key("k")}'");
        error.Message.ShouldContain("lease");
        error.Message.ShouldContain("not found");
        (await _registry.GetAsync(Key("k"))).ShouldBeNull();
    }

    [Test]
    public async Task Should_Delete_Leased_Key_When_Lease_Expires()
    {
        // Given
        var lease = await GrantAsync(ShortTtl);
        await _registry.PutAsync(Key("leased"), "v", lease);
        (await _registry.GetAsync(Key("leased"))).ShouldBe("v");

        // When: nobody keeps the lease alive
        var deadline = DateTimeOffset.UtcNow + ExpiryDeadline(ShortTtl);
        string? value = "v";
        while (value is not null && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(200);
            value = await _registry.GetAsync(Key("leased"));
        }

        // Then
        value.ShouldBeNull($"the key bound to a {ShortTtl.TotalSeconds} s lease was still there after {ExpiryDeadline(ShortTtl).TotalSeconds} s");
        (await _registry.KeepAliveAsync(lease)).ShouldBeFalse();
    }
}
