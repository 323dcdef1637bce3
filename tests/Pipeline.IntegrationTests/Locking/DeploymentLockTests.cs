using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Pipeline.IntegrationTests.Registry;
using Pipeline.Locking;
using Pipeline.Provisioning;
using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Locking;

/// <summary>The deploy lock against the real etcd: one holder at a time, waiting, failing with the holder named, leases.</summary>
[TestFixture]
public sealed class DeploymentLockTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private IServiceRegistry _registry = null!;
    private string _prefix = null!;
    private string _service = null!;
    private readonly List<DeploymentLock> _locks = [];

    [SetUp]
    public void CreateRegistry()
    {
        _registry = ServiceRegistries.Create(TestEnvironment.Defaults);
        _prefix = $"pipeline-test/{TestEnvironment.UniqueName("lock")}";
        _service = TestEnvironment.UniqueName("svc");
    }

    [TearDown]
    public async Task RemoveWhatTheTestWrote()
    {
        foreach (var held in _locks)
        {
            await held.DisposeAsync();
        }

        _locks.Clear();

        await _registry.DeletePrefixAsync(_prefix + "/");
        _registry.Dispose();
    }

    [Test]
    public async Task Should_Record_Owner_Host_Pid_Deploy_Id_And_Start_In_A_Leased_Key_When_Acquired()
    {
        // Given nobody holds the lock
        var before = DateTimeOffset.UtcNow;

        // When a run takes it
        var held = await AcquireAsync("deploy-a", TimeSpan.Zero);

        // Then the key names this process and is bound to a live lease
        held.Key.ShouldBe($"{_prefix}/locks/{_service}");
        var json = JsonDocument.Parse((await _registry.GetAsync(held.Key)).ShouldNotBeNull()).RootElement;
        json.GetProperty("service").GetString().ShouldBe(_service);
        json.GetProperty("user").GetString().ShouldBe(Environment.UserName);
        json.GetProperty("host").GetString().ShouldBe(Environment.MachineName);
        json.GetProperty("pid").GetInt32().ShouldBe(Environment.ProcessId);
        json.GetProperty("deployId").GetString().ShouldBe("deploy-a");
        json.GetProperty("ttlSeconds").GetInt64().ShouldBe(3);
        json.GetProperty("startedAt").GetDateTimeOffset().ShouldBeInRange(before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        (await DeploymentLock.ReadHolderAsync(_registry, _prefix, _service)).ShouldBe(held.Holder);
        (await _registry.KeepAliveAsync(held.LeaseId)).ShouldBeTrue();
    }

    [Test]
    public async Task Should_Fail_At_Once_Naming_The_Holder_When_The_Lock_Timeout_Is_Zero()
    {
        // Given another run holds the lock
        var holder = await AcquireAsync("deploy-a", TimeSpan.Zero);

        // When a second run asks with a timeout of zero
        var clock = Stopwatch.StartNew();
        var error = await Should.ThrowAsync<DeploymentLockedException>(() => AcquireAsync("deploy-b", TimeSpan.Zero));

        // Then it fails without waiting, naming who holds the lock and when it expires if that holder is dead
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        error.Holder.ShouldBe(holder.Holder);
        var started = holder.Holder.StartedAt.UtcDateTime.ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        error.Message.ShouldStartWith(
            $"{_service} is being deployed by {Environment.UserName}@{Environment.MachineName} pid {Environment.ProcessId} (deploy deploy-a, started {started} UTC, ");
        error.Message.ShouldEndWith(" s ago); waited 0 s. Retry later, or if that process is dead the lock expires within 3 s.");
        (await DeploymentLock.ReadHolderAsync(_registry, _prefix, _service)).ShouldNotBeNull().DeployId.ShouldBe("deploy-a");
    }

    [Test]
    public async Task Should_Wait_The_Lock_Timeout_Then_Fail_When_The_Holder_Keeps_The_Lock()
    {
        // Given another run holds the lock and keeps it
        await AcquireAsync("deploy-a", TimeSpan.Zero);

        // When a second run waits up to 2 s
        var clock = Stopwatch.StartNew();
        var waitingFor = new List<LockHolder>();
        var error = await Should.ThrowAsync<DeploymentLockedException>(() => AcquireAsync("deploy-b", TimeSpan.FromSeconds(2), waitingFor.Add));

        // Then it waited the whole timeout (and said whom it waited for), then failed naming the holder
        clock.Elapsed.ShouldBeInRange(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4));
        waitingFor.ShouldHaveSingleItem().DeployId.ShouldBe("deploy-a");
        error.Waited.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(2));
        error.Message.ShouldContain("(deploy deploy-a, started ", Case.Sensitive);
        error.Message.ShouldContain("; waited 2 s. Retry later", Case.Sensitive);
    }

    [Test]
    public async Task Should_Take_The_Lock_Soon_After_The_Holder_Releases_It_When_Waiting()
    {
        // Given another run holds the lock
        var holder = await AcquireAsync("deploy-a", TimeSpan.Zero);

        // When a second run waits up to 20 s and the holder releases after about 1 s
        var clock = Stopwatch.StartNew();
        var waiter = AcquireAsync("deploy-b", TimeSpan.FromSeconds(20));
        await Task.Delay(TimeSpan.FromSeconds(1));
        waiter.IsCompleted.ShouldBeFalse("the second run must wait while the first holds the lock");
        await holder.ReleaseAsync();
        var released = clock.Elapsed;
        var second = await waiter;

        // Then the second run has it right after the release, and the key names it
        (clock.Elapsed - released).ShouldBeLessThan(TimeSpan.FromSeconds(1.5));
        (await DeploymentLock.ReadHolderAsync(_registry, _prefix, _service)).ShouldNotBeNull().DeployId.ShouldBe("deploy-b");
        second.Holder.DeployId.ShouldBe("deploy-b");
    }

    [Test]
    public async Task Should_Let_Exactly_One_Of_Many_Concurrent_Runs_Take_The_Lock()
    {
        // When eight runs ask at the same moment, none waiting
        var attempts = Enumerable.Range(0, 8).Select(i => Task.Run(() => AcquireAsync($"deploy-{i}", TimeSpan.Zero))).ToList();
        var outcomes = await Task.WhenAll(attempts.Select(async a =>
        {
            try
            {
                return (Lock: await a, Error: (DeploymentLockedException?)null);
            }
            catch (DeploymentLockedException e)
            {
                return (Lock: (DeploymentLock?)null, Error: e);
            }
        }));

        // Then one holds it and every other was told that one's deploy id
        var winner = outcomes.Where(o => o.Lock is not null).ShouldHaveSingleItem().Lock!;
        outcomes.Where(o => o.Error is not null).Select(o => o.Error!.Holder.DeployId).ShouldAllBe(id => id == winner.Holder.DeployId);
        outcomes.Count(o => o.Error is not null).ShouldBe(7);
    }

    [Test]
    public async Task Should_Release_Idempotently_And_Delete_The_Key_At_Once()
    {
        // Given a held lock
        var held = await AcquireAsync("deploy-a", TimeSpan.Zero);

        // When it is released twice
        await held.ReleaseAsync();
        await Should.NotThrowAsync(() => held.ReleaseAsync());

        // Then the key and lease are gone, the holder was not told it lost the lock, and the next run takes it at once
        (await _registry.GetAsync(held.Key)).ShouldBeNull();
        (await _registry.KeepAliveAsync(held.LeaseId)).ShouldBeFalse();
        held.Lost.IsCancellationRequested.ShouldBeFalse();
        (await AcquireAsync("deploy-b", TimeSpan.Zero)).Holder.DeployId.ShouldBe("deploy-b");
    }

    [Test]
    public async Task Should_Keep_The_Lock_Beyond_Its_Ttl_While_The_Holder_Lives()
    {
        // Given a lock with a 3 s lease
        var held = await AcquireAsync("deploy-a", TimeSpan.Zero);

        // When twice the TTL passes
        await Task.Delay(Ttl * 2);

        // Then the keep-alive loop has kept it
        (await _registry.GetAsync(held.Key)).ShouldNotBeNull();
        held.Lost.IsCancellationRequested.ShouldBeFalse();
        await Should.ThrowAsync<DeploymentLockedException>(() => AcquireAsync("deploy-b", TimeSpan.Zero));
    }

    [Test]
    public async Task Should_Tell_The_Holder_When_Its_Lease_Is_Revoked_Behind_Its_Back()
    {
        // Given a held lock
        var held = await AcquireAsync("deploy-a", TimeSpan.Zero);
        var lost = new TaskCompletionSource();
        held.Lost.Register(() => lost.TrySetResult());

        // When its lease disappears (an operator, or etcd expiring it during a long pause)
        await _registry.RevokeLeaseAsync(held.LeaseId);

        // Then Lost fires by the next renewal (TTL/4) and says why
        var clock = Stopwatch.StartNew();
        await lost.Task.WaitAsync(Ttl);
        clock.Elapsed.ShouldBeLessThan(Ttl / 3 + TimeSpan.FromSeconds(1));
        held.LostReason.ShouldBe($"The deploy lock of {_service} was lost: its lease {held.LeaseId} expired or was revoked.");
    }

    [Test]
    public async Task Should_Tell_The_Holder_When_Its_Key_Is_Taken_Over()
    {
        // Given a held lock
        var held = await AcquireAsync("deploy-a", TimeSpan.Zero);
        var lost = new TaskCompletionSource();
        held.Lost.Register(() => lost.TrySetResult());

        // When someone deletes the key (the lease lives on)
        await _registry.DeleteAsync(held.Key);

        // Then Lost fires by the next renewal
        await lost.Task.WaitAsync(Ttl);
        held.LostReason.ShouldBe($"The deploy lock of {_service} was lost: the key {held.Key} was deleted or taken over.");
    }

    [Test]
    public async Task Should_Tell_The_Holder_Before_Its_Lease_Can_Expire_When_The_Registry_Stops_Answering()
    {
        // Given a lock held on a private etcd (started for this test, on free loopback ports)
        var state = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("lock-etcd"));
        var etcd = new Uri($"http://127.0.0.1:{TestEnvironment.FreePortPair()}");
        var report = await LocalServices.ForThisMachine(TestContext.Progress.WriteLine).EnsureAsync(new LocalServicesOptions
        {
            Docker = TestEnvironment.Docker,
            ImageRegistry = TestEnvironment.ImageRegistry,
            Etcd = etcd,
            StateDirectory = state,
            Tools = new Dictionary<string, string>(),
            AllowInstall = false,
            StartTimeout = TimeSpan.FromSeconds(30),
        });
        var pid = report.Services.Single(s => s.Name == "etcd").ProcessId.ShouldNotBeNull("the test's own etcd was started");
        using var process = Process.GetProcessById(pid);
        try
        {
            using var registry = new EtcdRegistry([etcd], timeout: TimeSpan.FromSeconds(1), credentials: PrivateEtcd.Credentials(report));
            var held = await DeploymentLock.AcquireAsync(registry, _prefix, LockHolder.ForThisProcess(_service, "deploy-a", Ttl), Ttl, TimeSpan.Zero);
            await using var _ = held;
            var lost = new TaskCompletionSource();
            held.Lost.Register(() => lost.TrySetResult());

            // When etcd dies
            var clock = Stopwatch.StartNew();
            process.Kill();

            // Then the holder gives the lock up two thirds of a TTL after the last renewal it sent, before the lease can
            // expire (the last renewal was at most TTL/4 before the kill)
            await lost.Task.WaitAsync(Ttl * 3);
            clock.Elapsed.ShouldBeInRange(held.LostAfter - held.RenewEvery - TimeSpan.FromMilliseconds(100), Ttl);
            held.LostReason.ShouldStartWith($"The deploy lock of {_service} was lost: it could not be renewed for 2 s of its 3 s TTL");
            held.LostReason.ShouldEndWith("; it is given up before the registry can give it to another run.");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            Directory.Delete(state, recursive: true);
        }
    }

    private async Task<DeploymentLock> AcquireAsync(string deployId, TimeSpan timeout, Action<LockHolder>? onWaiting = null)
    {
        var held = await DeploymentLock.AcquireAsync(
            _registry, _prefix, LockHolder.ForThisProcess(_service, deployId, Ttl), Ttl, timeout, onWaiting: onWaiting);
        lock (_locks)
        {
            _locks.Add(held);
        }

        return held;
    }
}
