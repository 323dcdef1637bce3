using System.Net;
using System.Net.Sockets;
using NUnit.Framework;
using Pipeline.Registry;
using Shouldly;

namespace Pipeline.Testing.Support;

/// <summary>
/// What a registry reached over the network must do besides <see cref="ServiceRegistryContract"/>: name the endpoint
/// and key when it cannot be reached, move on to the next endpoint, and give up on one that does not answer in time.
/// </summary>
public abstract class RemoteServiceRegistryContract : ServiceRegistryContract
{
    /// <summary>Retries of transient failures, kept short so the tests of an unreachable registry stay quick.</summary>
    protected static readonly RegistryRetry ContractRetry = new() { MaxElapsed = TimeSpan.FromSeconds(1) };

    /// <summary>The address of the registry under test.</summary>
    protected abstract Uri Endpoint { get; }

    /// <inheritdoc />
    protected sealed override string Address => Endpoint.ToString().TrimEnd('/');

    /// <summary>A registry client talking to <paramref name="endpoints"/> (tried in order), each request limited to <paramref name="timeout"/>.</summary>
    protected abstract IServiceRegistry CreateRegistry(IReadOnlyList<Uri> endpoints, TimeSpan? timeout = null);

    /// <inheritdoc />
    protected sealed override IServiceRegistry CreateClient() => CreateRegistry([Endpoint]);

    // ---- Unreachable registry -----------------------------------------------------------------------------------

    [Test]
    public async Task Should_Name_Endpoint_And_Key_When_Registry_Is_Unreachable()
    {
        // Given
        var dead = UnusedLoopbackEndpoint();
        using var registry = CreateRegistry([dead]);

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => registry.GetAsync(Key("live")));

        // Then
        error.Message.ShouldStartWith($"Could not reach ");
        error.Message.ShouldContain($"at {dead.ToString().TrimEnd('/')} ");
        error.Message.ShouldContain($"'{Key("live")}'");
        error.Message.ShouldContain("connection refused");
        (await Should.ThrowAsync<ServiceRegistryException>(() => registry.PingAsync())).Message.ShouldContain(dead.ToString().TrimEnd('/'));
    }

    [Test]
    public async Task Should_Use_Next_Endpoint_When_First_Is_Unreachable()
    {
        // Given
        using var registry = CreateRegistry([UnusedLoopbackEndpoint(), Endpoint]);

        // When
        await registry.PutAsync(Key("failover"), "reached");

        // Then
        (await registry.GetAsync(Key("failover"))).ShouldBe("reached");
    }

    [Test]
    public async Task Should_Move_On_And_Name_Endpoint_When_It_Does_Not_Answer_In_Time()
    {
        // Given: an endpoint that accepts connections and never answers
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start(backlog: 16);
        var mute = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}");
        var timeout = TimeSpan.FromMilliseconds(300);
        using var onlyMute = CreateRegistry([mute], timeout);
        using var muteThenLive = CreateRegistry([mute, Endpoint], timeout);

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => onlyMute.GetAsync(Key("live")));
        await muteThenLive.PutAsync(Key("live"), "reached");

        // Then
        error.Message.ShouldContain($"at {mute.ToString().TrimEnd('/')} to get '{Key("live")}': no answer within 0.3 s.");
        (await muteThenLive.GetAsync(Key("live"))).ShouldBe("reached");
    }

    /// <summary>An address on 127.0.0.1 where nothing listens: a port the kernel just handed out and took back.</summary>
    private static Uri UnusedLoopbackEndpoint()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new Uri($"http://127.0.0.1:{port}");
    }
}
