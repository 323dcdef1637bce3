using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Credentials;

/// <summary>Registry passwords and Consul tokens never reach the build log, on success or failure, nor any ToString.</summary>
[NonParallelizable]
public sealed class CredentialsTests
{
    private const string ConsulToken = "consul-token-7f3a9c1e-never-logged";
    private PipelineHarness _harness = null!;
    private AuthRegistry _registry = null!;

    [OneTimeSetUp]
    public async Task StartRegistry()
    {
        _harness = new PipelineHarness("haproxy");
        _registry = await AuthRegistry.StartAsync("deployer", "registry-password-" + Guid.NewGuid().ToString("N"));
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _registry?.Dispose();
        _harness?.Dispose();
    }

    private DeploymentOptions WithCredentials(string dir, string version, string password) =>
        _harness.OptionsFor(dir, version) with
        {
            ImageRegistry = _registry.Address,
            RegistryUsername = _registry.User,
            RegistryPassword = password,
            ConsulToken = ConsulToken,
        };

    [Test]
    public void Should_Never_Print_The_Password_Or_Token_On_Success_Or_Failure()
    {
        // Given a registry that checks credentials, and a service
        var service = TestEnvironment.UniqueName("creds");
        var dir = _harness.CreateService(service);
        var failing = _harness.CreateService(service + "-next", TestType.PostIntegration.ToContractName());

        // When it is deployed with the right password (it authenticates to push and pull), then a version whose
        // post-integration tests fail (rollback), then with a wrong password (preflight), at diagnostic verbosity too
        var success = CapturedPipeline.Run(WithCredentials(dir, "1.0.0", _registry.Password));
        var rolledBack = CapturedPipeline.Run(WithCredentials(failing, "2.0.0", _registry.Password) with { Service = service }, "--verbosity=diagnostic");
        var wrong = CapturedPipeline.Run(WithCredentials(dir, "3.0.0", "wrong-" + _registry.Password), "--verbosity=diagnostic");
        var onCommandLine = CapturedPipeline.Run(
            WithCredentials(dir, "4.0.0", "unused") with { RegistryPassword = null, RegistryUsername = null },
            $"--registry-username={_registry.User}", $"--registry-password=wrong-{_registry.Password}", "--verbosity=diagnostic");
        var passwordFile = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("registry-password"));
        File.WriteAllText(passwordFile, $"wrong-{_registry.Password}\n");
        var fromFile = CapturedPipeline.Run(
            WithCredentials(dir, "5.0.0", "unused") with { RegistryPassword = null, RegistryUsername = null },
            $"--registry-username={_registry.User}", $"--registry-password-file={passwordFile}", "--verbosity=diagnostic");
        File.Delete(passwordFile);

        // Then each run ended as expected, and no output holds a secret
        success.ExitCode.ShouldBe(0);
        success.All.ShouldContain($"Pushed {_registry.Address}/{service}:1.0.0");
        rolledBack.ExitCode.ShouldNotBe(0);
        rolledBack.All.ShouldContain("Rolled back:");
        wrong.ExitCode.ShouldNotBe(0);
        wrong.All.ShouldContain($"wrong registry credentials for user {_registry.User} at {_registry.Address}: GET http://{_registry.Address}/v2/ answered 401 Unauthorized");
        onCommandLine.ExitCode.ShouldNotBe(0);
        onCommandLine.All.ShouldContain("--registry-password: a secret on the command line can be read by every user of this machine (ps, /proc), so it is refused; set PIPELINE_REGISTRY_PASSWORD in the environment or give --registry-password-file=PATH (a file only you can read)");
        fromFile.ExitCode.ShouldNotBe(0);
        fromFile.All.ShouldContain($"wrong registry credentials for user {_registry.User} at {_registry.Address}: GET http://{_registry.Address}/v2/ answered 401 Unauthorized");
        foreach (var run in new[] { success, rolledBack, wrong, onCommandLine, fromFile })
        {
            run.All.ShouldNotContain(_registry.Password);
            run.All.ShouldNotContain(ConsulToken);
        }
    }

    [Test]
    public void Should_Show_Secrets_Only_As_Stars_In_ToString()
    {
        // Given options and credentials holding secrets
        var options = new DeploymentOptions
        {
            RegistryUsername = "deployer",
            RegistryPassword = "hunter2-password",
            ConsulToken = "hunter2-token",
            Volumes = [new VolumeMount("data", "/srv/data")],
        };
        var credentials = new RegistryCredentials("deployer", "hunter2-password");

        // When printed
        var text = options.ToString();

        // Then every other member shows, the secrets only as ***
        text.ShouldNotContain("hunter2");
        text.ShouldContain("RegistryUsername = deployer, RegistryPassword = ***");
        text.ShouldContain("ConsulToken = ***");
        text.ShouldContain("Volumes = [data:/srv/data]");
        text.ShouldStartWith("DeploymentOptions { ServiceDirectory = ., ");
        (options with { RegistryPassword = null }).ToString().ShouldContain("RegistryPassword = ,");
        credentials.ToString().ShouldNotContain("hunter2");
    }
}
