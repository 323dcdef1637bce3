using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Volumes;

/// <summary>Each release gets its own labelled volumes; a rollback removes the new release's, retiring the old colour removes the old one's.</summary>
[NonParallelizable]
public sealed class ReleaseVolumeTests
{
    private readonly List<string> _services = [];
    private PipelineHarness _harness = null!;

    [SetUp]
    public void CreateHarness() => _harness = new PipelineHarness("haproxy");

    [TearDown]
    public async Task RemoveHarness()
    {
        // The harness removes the containers; the volumes they used go after them, found by label.
        _harness.Dispose();
        using var engine = new DockerEngine(TestEnvironment.Docker);
        foreach (var service in _services)
        {
            foreach (var volume in await engine.ListVolumesAsync(new Dictionary<string, string> { [Labels.Service] = service }))
            {
                await engine.RemoveVolumeAsync(volume.Name);
            }
        }

        _services.Clear();
    }

    private string NewService()
    {
        var service = TestEnvironment.UniqueName("vol");
        _services.Add(service);
        return service;
    }

    private Task<IReadOnlyList<VolumeInfo>> VolumesOf(string service) =>
        _harness.Engine.ListVolumesAsync(new Dictionary<string, string> { [Labels.Service] = service });

    [Test]
    public async Task Should_Remove_The_New_Release_Volume_When_PostIntegration_Tests_Fail()
    {
        // Given a service live in blue with a data volume
        var service = NewService();
        var volumes = new[] { new VolumeMount("data", "/srv/data") };
        PipelineHarness.Run(_harness.OptionsFor(_harness.CreateService(service), "1.0.0") with { Volumes = volumes }).ShouldBe(0);
        var before = await _harness.SnapshotAsync(service);
        var blue = (await VolumesOf(service)).ShouldHaveSingleItem();

        // When a new version with a second volume fails its post-integration tests
        var failing = _harness.CreateService(service + "-next", TestType.PostIntegration.ToContractName());
        var exitCode = PipelineHarness.Run(_harness.OptionsFor(failing, "2.0.0") with
        {
            Service = service,
            Volumes = [.. volumes, new VolumeMount("cache", "/var/cache/app")],
        });

        // Then no volume of the new release is left behind: production is exactly as before
        exitCode.ShouldNotBe(0);
        (await _harness.SnapshotAsync(service)).Diff(before).ShouldBeEmpty();
        (await VolumesOf(service)).ShouldHaveSingleItem().Name.ShouldBe(blue.Name);
    }

    [Test]
    public async Task Should_Mount_A_Labelled_Volume_Per_Release_And_Remove_The_Old_Colours_On_Redeploy()
    {
        // Given a service deployed with a volume given on the command line
        var service = NewService();
        var dir = _harness.CreateService(service);
        BadInput.CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0"), "--volume=data:/srv/data", "--volume=cache:/var/cache/app").ExitCode.ShouldBe(0);
        var first = await VolumesOf(service);
        var release = (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem();
        var deployId = release.Labels[Labels.DeployId];

        // Then each volume is named after the release and labelled like it, and the release writes into it
        first.Select(v => v.Name).Order(StringComparer.Ordinal)
            .ShouldBe([$"{release.Name}-cache", $"{release.Name}-data"]);
        foreach (var volume in first)
        {
            volume.Labels[Labels.Color].ShouldBe("blue");
            volume.Labels[Labels.Version].ShouldBe("1.0.0");
            volume.Labels[Labels.DeployId].ShouldBe(deployId);
            volume.Labels[Labels.Role].ShouldBe("release");
        }

        var written = await _harness.Engine.ExecAsync(release.Id, ["sh", "-c", "echo kept > /srv/data/file && mount | grep -c ' /srv/data '"]);
        written.ExitCode.ShouldBe(0, written.Stderr);

        // When the next version is deployed (green) with the same volumes
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.1.0") with { Volumes = [new VolumeMount("data", "/srv/data"), new VolumeMount("cache", "/var/cache/app")] }).ShouldBe(0);

        // Then only green's volumes remain: blue's went with its container
        var green = (await _harness.ReleasesAsync(service)).ShouldHaveSingleItem();
        green.Labels[Labels.Color].ShouldBe("green");
        (await VolumesOf(service)).Select(v => v.Name).Order(StringComparer.Ordinal)
            .ShouldBe([$"{green.Name}-cache", $"{green.Name}-data"]);
    }
}
