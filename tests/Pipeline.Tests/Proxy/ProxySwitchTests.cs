using System.Text.Json;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Testing.Support;
using Pipeline.Tests.Support;

namespace Pipeline.Tests.Proxy;

/// <summary>Rendering the shared proxy's config from the registry, and restoring it after a switch, on an in-memory registry and a stand-in proxy.</summary>
public sealed class ProxySwitchTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private InMemoryRegistry _registry = null!;
    private StandInProxy _proxy = null!;
    private List<string> _warnings = null!;

    [SetUp]
    public void CreateRegistryAndProxy()
    {
        _registry = new InMemoryRegistry();
        _proxy = new StandInProxy();
        _warnings = [];
    }

    [TearDown]
    public void DisposeRegistry() => _registry.Dispose();

    private ProxySwitch Switch() =>
        new(_proxy, "proxy", new ServiceCatalog(_registry, "p"), "d", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(5), TimeProvider.System, _warnings.Add);

    private async Task LiveAsync(string service, string color, string address, string? releaseJson = null)
    {
        await _registry.PutAsync($"p/services/{service}/color", color);
        await _registry.PutAsync($"p/services/{service}/releases/{color}", releaseJson ?? JsonSerializer.Serialize(
            new ReleaseRecord(service, color, "1.0.0", "img", null, address, 8080, $"/{service}/", null, "d", "c", DateTimeOffset.UnixEpoch), Json));
    }

    private static Task NoCheck(string config, CancellationToken ct) => Task.CompletedTask;

    // ---- Issue 9 item 7: one bad record affects only its own service ---------------------------------------------

    [Test]
    public async Task Should_Leave_Out_Only_The_Services_Whose_Records_Cannot_Be_Used_And_Name_Them()
    {
        // Given two good services and one bad record of each kind
        await LiveAsync("alpha", "blue", "10.0.0.1");
        await LiveAsync("omega", "green", "10.0.0.9");
        await _registry.PutAsync("p/services/nocolour/color", "green");
        await LiveAsync("broken", "blue", "", releaseJson: "{\"service\":\"broken\",");
        await LiveAsync("newer", "blue", "", releaseJson: """{"service":"newer","color":"blue","port":{"http":8080},"format":2}""");
        await LiveAsync("badroute", "blue", "not-an-address");
        await LiveAsync("misfiled", "blue", "", releaseJson: JsonSerializer.Serialize(
            new ReleaseRecord("alpha", "blue", "1.0.0", "img", null, "10.0.0.7", 8080, "/x/", null, "d", "c", DateTimeOffset.UnixEpoch), Json));

        // When the config is rendered
        var config = await Switch().RenderFromRegistryAsync(CancellationToken.None);

        // Then the good services are routed, and each bad one is left out with its reason
        config.ShouldBe(_proxy.RenderOf(("alpha", "blue", "10.0.0.1"), ("omega", "green", "10.0.0.9")));
        _warnings.Count.ShouldBe(5);
        _warnings.ShouldContain("Left out of the haproxy config: the route of nocolour: its live colour is 'green' but p/services/nocolour/releases/green holds no release. The other services' routes are rendered as usual.");
        _warnings.ShouldContain(w => w.StartsWith("Left out of the haproxy config: the route of broken: p/services/broken/releases/blue is not a release this Pipeline can read (", StringComparison.Ordinal));
        _warnings.ShouldContain(w => w.StartsWith("Left out of the haproxy config: the route of newer: p/services/newer/releases/blue is not a release this Pipeline can read (", StringComparison.Ordinal));
        _warnings.ShouldContain(w => w.StartsWith("Left out of the haproxy config: the route of badroute: Route 0 (badroute): upstream address 'not-an-address' is not allowed in a proxy config", StringComparison.Ordinal));
        _warnings.ShouldContain("Left out of the haproxy config: the route of misfiled: p/services/misfiled/releases/blue holds a release of alpha (blue). The other services' routes are rendered as usual.");
    }

    [Test]
    public async Task Should_Fail_The_Render_When_The_Switched_Services_Own_Record_Cannot_Be_Used()
    {
        // Given
        await LiveAsync("alpha", "blue", "10.0.0.1");
        await LiveAsync("hello", "green", "not-an-address");

        // When / Then
        var error = await Should.ThrowAsync<ProxyRouteException>(() => Switch().RenderFromRegistryAsync(null, required: "hello", CancellationToken.None));
        error.Message.ShouldStartWith("The route of hello: Route 0 (hello): upstream address 'not-an-address' is not allowed in a proxy config");
    }

    [Test]
    public async Task Should_Render_The_Colour_A_Switch_Is_About_To_Make_Live()
    {
        // Given hello live in blue with green registered
        await LiveAsync("hello", "blue", "10.0.0.1");
        await LiveAsync("hello", "green", "10.0.0.2");
        await _registry.PutAsync("p/services/hello/color", "blue");

        // When / Then
        (await Switch().RenderFromRegistryAsync(new Dictionary<string, string> { ["hello"] = "green" }, "hello", CancellationToken.None))
            .ShouldBe(_proxy.RenderOf(("hello", "green", "10.0.0.2")));
        (await _registry.GetAsync("p/services/hello/color")).ShouldBe("blue");
    }

    // ---- Issue 9 item 7: the restore keeps other services' routes --------------------------------------------------

    [Test]
    public async Task Should_Keep_The_Routes_Another_Service_Switched_Since_When_Restoring()
    {
        // Given hello's switch to green (applied), then another service's switch to green, with hello's colour put back
        // to blue by the newer undo step; this run's template is not the one that rendered the previous config
        await LiveAsync("hello", "blue", "10.0.0.1");
        await LiveAsync("other", "blue", "10.0.0.3");
        _proxy.Template = "the template before";
        var previous = await Switch().RenderFromRegistryAsync(CancellationToken.None);
        _proxy.Live = previous;
        _proxy.Template = "this run's template";
        await LiveAsync("hello", "green", "10.0.0.2");
        var applied = await Switch().RenderFromRegistryAsync(CancellationToken.None);
        await _proxy.ApplyAsync(applied);
        await LiveAsync("other", "green", "10.0.0.4");
        await _proxy.ApplyAsync(await Switch().RenderFromRegistryAsync(CancellationToken.None));
        await _registry.PutAsync("p/services/hello/color", "blue");

        // When the proxy is restored
        var done = await Switch().RestoreAsync(previous, applied, NoCheck);

        // Then it was rendered again: hello is back on blue and other's switch to green stays
        done.ShouldBe("restored the proxy config from the registry");
        _proxy.Live.ShouldBe(_proxy.RenderOf(("hello", "blue", "10.0.0.1"), ("other", "green", "10.0.0.4")));
    }

    [Test]
    public async Task Should_Restore_The_Previous_Config_Verbatim_Only_When_Nobody_Changed_The_Proxy_Since()
    {
        // Given a config rendered by another template, then hello's switch, which nobody changed since
        await LiveAsync("hello", "blue", "10.0.0.1");
        _proxy.Template = "the template before";
        var previous = await Switch().RenderFromRegistryAsync(CancellationToken.None);
        _proxy.Live = previous;
        _proxy.Template = "this run's template";
        await LiveAsync("hello", "green", "10.0.0.2");
        var applied = await Switch().RenderFromRegistryAsync(CancellationToken.None);
        await _proxy.ApplyAsync(applied);
        await _registry.PutAsync("p/services/hello/color", "blue");
        var checkedVerbatim = new List<string>();

        // When the proxy is restored
        var done = await Switch().RestoreAsync(previous, applied, (config, _) =>
        {
            checkedVerbatim.Add(config);
            return Task.CompletedTask;
        });

        // Then exactly the previous config is back, after the verbatim check
        done.ShouldBe("restored the previous proxy config");
        _proxy.Live.ShouldBe(previous);
        checkedVerbatim.ShouldBe([previous]);
    }

    [Test]
    public async Task Should_Change_Nothing_When_The_Proxy_Still_Runs_The_Previous_Config()
    {
        // Given a switch whose config the proxy rejected: the previous one still runs
        await LiveAsync("hello", "blue", "10.0.0.1");
        var previous = await Switch().RenderFromRegistryAsync(CancellationToken.None);
        _proxy.Live = previous;

        // When / Then
        (await Switch().RestoreAsync(previous, "reject this", NoCheck)).ShouldBe("the proxy still ran the previous config");
        _proxy.Applied.ShouldBeEmpty();
    }
}
