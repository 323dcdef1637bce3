using System.Text;
using Pipeline.IntegrationTests.Credentials;
using Pipeline.IntegrationTests.Recovery;

namespace Pipeline.IntegrationTests.RoughEdges;

/// <summary>Credentials <c>docker login</c> saved (<c>$DOCKER_CONFIG/config.json</c>, base64 <c>auth</c>) are used for the image registry.</summary>
[TestFixture]
[NonParallelizable]
public sealed class DockerLoginTests
{
    private PipelineHarness _harness = null!;
    private AuthRegistry _registry = null!;
    private string _dockerConfig = null!;

    [SetUp]
    public async Task Start()
    {
        _harness = new PipelineHarness("haproxy");
        _registry = await AuthRegistry.StartAsync("deployer", "login-password-" + Guid.NewGuid().ToString("N"));
        _dockerConfig = Directory.CreateTempSubdirectory("pipeline-docker-config-").FullName;
    }

    [TearDown]
    public void Stop()
    {
        Directory.Delete(_dockerConfig, recursive: true);
        _registry.Dispose();
        _harness.Dispose();
    }

    [Test]
    public async Task Should_Push_And_Pull_With_The_Credentials_Docker_Login_Saved()
    {
        // Given a registry that checks credentials, and a docker config holding them the way docker login writes them
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_registry.User}:{_registry.Password}"));
        await File.WriteAllTextAsync(Path.Combine(_dockerConfig, "config.json"), $$"""{ "auths": { "http://{{_registry.Address}}": { "auth": "{{auth}}" } } }""");
        var service = TestEnvironment.UniqueName("login");
        var dir = _harness.CreateService(service);
        var arguments = PipelineProcess.IsolatedArguments(_harness, dir).Select(a => a.StartsWith("--image-registry=", StringComparison.Ordinal) ? $"--image-registry={_registry.Address}" : a);

        // When it is deployed with DOCKER_CONFIG pointing there and no --registry-username
        using var run = PipelineProcess.Start("Deploy", "1.0.0", arguments, environment: new Dictionary<string, string> { ["DOCKER_CONFIG"] = _dockerConfig });

        // Then both images were pushed to the registry and pulled from it, and the password never showed
        (await run.WaitForExitAsync(TimeSpan.FromSeconds(150))).ShouldBe(0, run.Output);
        run.Output.ShouldContain($"Pushed {_registry.Address}/{service}:1.0.0");
        run.Output.ShouldNotContain(_registry.Password);
        (await _harness.Catalog.GetReleaseAsync(service, "blue"))!.Image.ShouldBe($"{_registry.Address}/{service}:1.0.0");
    }

    [Test]
    public async Task Should_Be_Refused_In_Preflight_Without_Saved_Credentials()
    {
        // Given the same registry and an empty docker config
        await File.WriteAllTextAsync(Path.Combine(_dockerConfig, "config.json"), "{}");
        var service = TestEnvironment.UniqueName("nologin");
        var dir = _harness.CreateService(service);
        var arguments = PipelineProcess.IsolatedArguments(_harness, dir).Select(a => a.StartsWith("--image-registry=", StringComparison.Ordinal) ? $"--image-registry={_registry.Address}" : a);

        // When it is deployed
        using var run = PipelineProcess.Start("Deploy", "1.0.0", arguments, environment: new Dictionary<string, string> { ["DOCKER_CONFIG"] = _dockerConfig });

        // Then Preflight says the registry asks for credentials
        (await run.WaitForExitAsync(TimeSpan.FromSeconds(150))).ShouldNotBe(0);
        run.Output.ShouldContain($"--image-registry={_registry.Address}: the registry asks for credentials");
    }
}
