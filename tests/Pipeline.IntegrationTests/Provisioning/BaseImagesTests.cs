using Pipeline.Docker;
using Pipeline.Provisioning;
using Pipeline.Proxy;

namespace Pipeline.IntegrationTests.Provisioning;

public sealed class BaseImagesTests
{
    private DockerEngine _engine = null!;
    private readonly List<string> _containers = [];
    private readonly List<string> _images = [];

    [SetUp]
    public void SetUp()
    {
        _containers.Clear();
        _images.Clear();
        _engine = new DockerEngine(TestEnvironment.Docker);
    }

    [TearDown]
    public async Task TearDown()
    {
        foreach (var container in _containers)
        {
            await _engine.RemoveContainerAsync(container);
        }

        foreach (var image in _images)
        {
            // The port has no image removal; the CLI removes the one tag this test made.
            await new ProcessCommandRunner().RunAsync("docker", ["rmi", image]);
        }

        _engine.Dispose();
    }

    private static BaseImagesOptions Options => new()
    {
        ProxyImage = (ImageRef.Parse(ProxyOptions.DefaultImage) with { Registry = TestEnvironment.ImageRegistry }).ToString(),
        DatabaseImage = $"{TestEnvironment.ImageRegistry}/pipeline/postgres:bookworm-2",
    };

    [Test]
    public async Task Should_Find_The_Base_Images_That_Exist_Without_Building_Anything()
    {
        // Given: the base images exist (the build's ProvisionLocalServices makes them; the first call here does if not)
        var images = new BaseImages(_engine, new ProcessCommandRunner(), TestContext.Progress.WriteLine);
        await images.EnsureAsync(Options);

        // When
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var report = await images.EnsureAsync(Options);
        watch.Stop();

        // Then
        TestContext.Progress.WriteLine($"BaseImages.EnsureAsync with every image present: {watch.ElapsedMilliseconds} ms");
        report.ShouldBe(new BaseImagesReport(BaseImageAction.Existed, BaseImageAction.Existed, BaseImageAction.Existed));
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
    }

    [TestCase("busybox:latest")]
    [TestCase("unique")]
    public async Task Should_Give_Busybox_With_Applet_Links_So_Wget_Runs(string name)
    {
        // Given: busybox:latest as the build provides it, or one built here under a unique tag
        var image = name == "busybox:latest" ? name : $"pipeline-test-busybox:{TestEnvironment.UniqueName("t")}";
        var images = new BaseImages(_engine, new ProcessCommandRunner(), TestContext.Progress.WriteLine);
        if (name != "busybox:latest")
        {
            _images.Add(image);
            (await images.EnsureBusyboxAsync(Options with { BusyboxImage = image })).ShouldBe(BaseImageAction.Built);
        }
        else
        {
            await images.EnsureBusyboxAsync(Options);
        }

        // When
        var container = TestEnvironment.UniqueName("pipeline-test-busybox");
        _containers.Add(container);
        await _engine.CreateContainerAsync(new ContainerSpec
        {
            Name = container,
            Image = image,
            Command = ["sh", "-c", "wget --help 2>&1 | head -3; readlink /bin/wget"],
            Labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.role"] = "test" },
        });
        await _engine.StartContainerAsync(container);
        var exit = await _engine.WaitContainerAsync(container);
        var lines = new List<string>();
        await _engine.StreamLogsAsync(container, lines.Add);

        // Then
        exit.ShouldBe(0);
        lines.ShouldContain(l => l.StartsWith("Usage: wget", StringComparison.Ordinal));
        lines[^1].ShouldBe("/bin/busybox");
    }

    [Test]
    [Explicit("Builds a Debian root filesystem with mmdebstrap: about a minute. The build's ProvisionLocalServices does the same on a fresh machine.")]
    public async Task Should_Build_A_Proxy_Image_With_Nginx_HAProxy_And_Socat()
    {
        // Given
        var image = $"pipeline-test-proxy:{TestEnvironment.UniqueName("t")}";
        _images.Add(image);
        var images = new BaseImages(_engine, new ProcessCommandRunner(), TestContext.Progress.WriteLine);

        // When
        var action = await images.EnsureProxyAsync(Options with { ProxyImage = image, PushProxyImage = false });

        // Then
        action.ShouldBe(BaseImageAction.Built);
        var container = TestEnvironment.UniqueName("pipeline-test-proxy");
        _containers.Add(container);
        await _engine.CreateContainerAsync(new ContainerSpec
        {
            Name = container,
            Image = image,
            Command = ["sh", "-c", "nginx -v 2>&1; haproxy -v | head -1; socat -V | grep 'socat version'; nginx -t 2>&1 | tail -1"],
            Labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.role"] = "test" },
        });
        await _engine.StartContainerAsync(container);
        (await _engine.WaitContainerAsync(container)).ShouldBe(0);
        var lines = new List<string>();
        await _engine.StreamLogsAsync(container, lines.Add);
        lines.ShouldContain(l => l.StartsWith("nginx version: nginx/", StringComparison.Ordinal));
        lines.ShouldContain(l => l.StartsWith("HAProxy version ", StringComparison.Ordinal));
        lines.ShouldContain(l => l.StartsWith("socat version ", StringComparison.Ordinal));
        lines.ShouldContain(l => l.Contains("test is successful", StringComparison.Ordinal));
    }
}
