using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyDrainTests
{
    [Test]
    public async Task Should_Return_Drained_Once_The_Proxy_Reports_Nothing_In_Flight()
    {
        // Given a proxy finishing three requests to green
        var proxy = new CountingProxy(3, 1, 0);

        // When drained with time to spare
        var result = await ProxyDrain.WaitAsync(proxy, "web", "green", TimeSpan.FromMinutes(1));

        // Then it asked until none were left, about the right service and colour
        (result.Drained, result.InFlight).ShouldBe((true, 0));
        proxy.Questions.ShouldBe(["web/green", "web/green", "web/green"]);
    }

    [Test]
    public async Task Should_Give_Up_After_The_Timeout_Saying_How_Many_Were_Still_In_Flight()
    {
        // Given a proxy that always has two requests in flight
        var proxy = new CountingProxy(2);

        // When drained with a short timeout
        var result = await ProxyDrain.WaitAsync(proxy, "web", "blue", TimeSpan.FromMilliseconds(250));

        // Then it stops waiting and says so
        (result.Drained, result.InFlight).ShouldBe((false, 2));
        result.Waited.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(250));
        proxy.Questions.Count.ShouldBeGreaterThan(1);
    }

    [Test]
    public async Task Should_Not_Wait_When_Nothing_Is_In_Flight()
    {
        var result = await ProxyDrain.WaitAsync(new CountingProxy(0), "web", "blue", TimeSpan.Zero);

        (result.Drained, result.InFlight).ShouldBe((true, 0));
    }

    /// <summary>A proxy that answers the in-flight question with the given counts (the last one repeats); nothing else.</summary>
    private sealed class CountingProxy(params int[] counts) : IProxy
    {
        public List<string> Questions { get; } = [];

        public Task<int> InFlightAsync(string service, string color, CancellationToken ct = default)
        {
            Questions.Add($"{service}/{color}");
            return Task.FromResult(counts[Math.Min(Questions.Count, counts.Length) - 1]);
        }

        public ProxyKind Kind => ProxyKind.Haproxy;
        public Uri PublicUrl => new("http://127.0.0.1:1/");
        public Uri? PublicHttpsUrl => null;
        public Task<string> EnsureRunningAsync(CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string> EnsureRunningAsync(Func<CancellationToken, Task>? beforeCreate, CancellationToken ct = default) => throw new NotSupportedException();
        public Task PrepareAsync(CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string?> FindContainerAsync(CancellationToken ct = default) => throw new NotSupportedException();
        public string Render(IReadOnlyList<ProxyRoute> routes) => throw new NotSupportedException();
        public Task<string?> ReadLiveConfigAsync(CancellationToken ct = default) => throw new NotSupportedException();
        public Task ValidateAsync(string config, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<ProxyChange> ApplyAsync(string config, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<ProxyChange> ApplyAsync(string config, Action<ProxyChange>? changed, CancellationToken ct = default) => throw new NotSupportedException();
        public Task<ProxyChange> InstallCertificateAsync(CancellationToken ct = default) => throw new NotSupportedException();
        public Task<string?> CertificateAuthorityAsync(CancellationToken ct = default) => throw new NotSupportedException();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        public void Dispose()
        {
        }
    }
}
