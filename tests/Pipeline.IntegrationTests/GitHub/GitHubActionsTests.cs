using Pipeline.IntegrationTests.Notifications;
using Pipeline.IntegrationTests.Recovery;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.GitHub;

/// <summary>
/// The build program run as GitHub Actions runs it (<c>GITHUB_ACTIONS=true</c>, <c>GITHUB_STEP_SUMMARY</c> and
/// <c>GITHUB_OUTPUT</c> files in a temp folder): what it printed as workflow commands and what it wrote to the files.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class GitHubActionsTests
{
    private const string HookPassword = "gha-hook-password-never-shown";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(150);
    private PipelineHarness _harness = null!;
    private WebhookReceiver _receiver = null!;
    private string _files = null!;

    [SetUp]
    public void Start()
    {
        _harness = new PipelineHarness("haproxy");
        _receiver = new WebhookReceiver();
        _files = Directory.CreateTempSubdirectory("pipeline-gha-").FullName;
    }

    [TearDown]
    public void Stop()
    {
        Directory.Delete(_files, recursive: true);
        _receiver.Dispose();
        _harness.Dispose();
    }

    private string SummaryPath => Path.Combine(_files, "step_summary.md");

    private string OutputPath => Path.Combine(_files, "output");

    private Dictionary<string, string> Runner(string? summary = null) => new()
    {
        ["GITHUB_ACTIONS"] = "true",
        ["GITHUB_STEP_SUMMARY"] = summary ?? SummaryPath,
        ["GITHUB_OUTPUT"] = OutputPath,
        ["PIPELINE_LAUNCHER"] = "./build.sh",
    };

    [Test]
    public async Task Should_Group_Each_Stage_Mask_Secrets_And_Write_The_Summary_And_Outputs_Of_A_Deploy()
    {
        // Given a service and a webhook whose URL holds a password
        var service = TestEnvironment.UniqueName("gha");
        var dir = _harness.CreateService(service);
        var arguments = PipelineProcess.IsolatedArguments(_harness, dir).Append($"--notify={_receiver.Url(userInfo: $"ci:{HookPassword}")}");

        // When it is deployed in GitHub Actions
        using var run = PipelineProcess.Start("Deploy", "1.0.0", arguments, environment: Runner());
        (await run.WaitForExitAsync(RunTimeout)).ShouldBe(0, run.Output);

        // Then the password was masked before anything else, and each stage's log is in its own group
        var lines = run.Lines.ToList();
        var mask = lines.IndexOf($"::add-mask::{HookPassword}");
        mask.ShouldBeGreaterThanOrEqualTo(0, run.Output);
        lines.FindIndex(l => l.StartsWith("::group::", StringComparison.Ordinal)).ShouldBeGreaterThan(mask);
        string[] stages = ["Preflight", "PreDeploymentTests", "BuildImage", "PushImage", "AcquireLock", "Migrate", "LiveReleaseTests", "DeployRelease", "RegisterRelease", "PreIntegrationTests", "SwitchProxy", "PostIntegrationTests", "RetireOldRelease", "ContractMigrations", "Deploy"];
        foreach (var stage in stages)
        {
            var start = lines.IndexOf($"::group::{stage}");
            start.ShouldBeGreaterThanOrEqualTo(0, $"no group for {stage}:\n{run.Output}");
            lines.Skip(start + 1).First(l => l.StartsWith("::", StringComparison.Ordinal) && !l.StartsWith("::add-mask::", StringComparison.Ordinal))
                .ShouldBe("::endgroup::", $"the group of {stage} is not closed before the next command");
        }

        lines.Where(l => l.StartsWith("::group::", StringComparison.Ordinal)).Select(l => l["::group::".Length..]).ShouldBe(stages);
        // (the image builds beside the pre-deployment tests, so its lines come in that group or in BuildImage's)
        lines.ShouldContain(l => l.Contains("[build] ", StringComparison.Ordinal) && lines.IndexOf(l) > lines.IndexOf("::group::PreDeploymentTests") && lines.IndexOf(l) < lines.IndexOf("::group::PushImage"));
        lines.ShouldNotContain(l => l.StartsWith("::error", StringComparison.Ordinal));

        // And the job summary tells the deploy, and the step outputs say where it is live
        var summary = await File.ReadAllTextAsync(SummaryPath);
        summary.ShouldContain($"## ✅ Deploy {service} 1.0.0: succeeded");
        summary.ShouldContain($"| service | {service} |");
        summary.ShouldContain("| colour | none → blue |");
        summary.ShouldContain($"| proxy | {_harness.ProxyUrl} |");
        foreach (var stage in stages.Skip(1).SkipLast(1))
        {
            summary.ShouldContain($"| {stage} | ");
        }

        summary.ShouldNotContain(HookPassword);
        Outputs().ShouldBe(new Dictionary<string, string> { ["color"] = "blue", ["version"] = "1.0.0", ["url"] = _harness.ProxyUrl.ToString(), ["outcome"] = "succeeded" });
    }

    [Test]
    public async Task Should_Annotate_The_Failing_Stage_Once_With_The_Cause_And_What_Was_Rolled_Back()
    {
        // Given a service live in blue and a next version whose post-integration tests fail
        var service = TestEnvironment.UniqueName("ghafail");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        var failing = _harness.CreateService(service + "-next", TestType.PostIntegration.ToContractName());

        // When it is deployed in GitHub Actions
        using var run = PipelineProcess.Start("Deploy", "2.0.0", PipelineProcess.IsolatedArguments(_harness, failing, service), environment: Runner());
        (await run.WaitForExitAsync(RunTimeout)).ShouldNotBe(0);

        // Then there is exactly one error annotation: titled with the stage and service, its message escaped to one line
        var error = run.Lines.Where(l => l.StartsWith("::error", StringComparison.Ordinal)).ShouldHaveSingleItem(run.Output);
        error.ShouldStartWith($"::error title=PostIntegrationTests%3A {service} 2.0.0::PostIntegrationTests failed: post-integration tests for {service} 2.0.0 (green) exited with 7");
        error.ShouldContain("%0ARolled back: ");
        error.ShouldContain($"removed release {service}-green-");
        error.ShouldNotContain("\n");

        // And the summary has the rollback and the retry command; the outputs say blue is still live
        var summary = await File.ReadAllTextAsync(SummaryPath);
        summary.ShouldContain($"## ↩️ Deploy {service} 2.0.0: rolled-back");
        summary.ShouldContain("| colour | blue → blue (green was rolled back) |");
        summary.ShouldContain("### Failure in PostIntegrationTests");
        summary.ShouldContain("failing post-integration on purpose");
        summary.ShouldContain("**Rollback:** ");
        summary.ShouldContain($"./build.sh --target=Deploy --release-version=2.0.0");
        Outputs().ShouldBe(new Dictionary<string, string> { ["color"] = "blue", ["version"] = "2.0.0", ["url"] = _harness.ProxyUrl.ToString(), ["outcome"] = "rolled-back" });
    }

    [Test]
    public async Task Should_Warn_And_Keep_The_Outcome_When_The_Summary_Cannot_Be_Written()
    {
        // Given a summary path in a folder that does not exist
        var service = TestEnvironment.UniqueName("ghanosum");
        var dir = _harness.CreateService(service);
        var unwritable = Path.Combine(_files, "missing-folder", "summary.md");

        // When a deploy runs
        using var run = PipelineProcess.Start("Deploy", "1.0.0", PipelineProcess.IsolatedArguments(_harness, dir), environment: Runner(unwritable));

        // Then it succeeded, with a warning annotation saying why there is no summary; the outputs are written
        (await run.WaitForExitAsync(RunTimeout)).ShouldBe(0, run.Output);
        run.Lines.ShouldContain(l => l.StartsWith($"::warning title={service}::GitHub Actions: could not write the job summary to {unwritable}", StringComparison.Ordinal), run.Output);
        File.Exists(unwritable).ShouldBeFalse();
        Outputs()["outcome"].ShouldBe("succeeded");
    }

    /// <summary>The step outputs file, parsed from its <c>name&lt;&lt;DELIMITER</c> form.</summary>
    private Dictionary<string, string> Outputs()
    {
        var outputs = new Dictionary<string, string>();
        var lines = File.ReadAllLines(OutputPath);
        for (var i = 0; i < lines.Length; i++)
        {
            var head = lines[i].Split("<<", 2);
            head.Length.ShouldBe(2, $"line {i + 1} of the outputs is not name<<DELIMITER: {lines[i]}");
            var value = new List<string>();
            while (lines[++i] != head[1])
            {
                value.Add(lines[i]);
            }

            outputs[head[0]] = string.Join('\n', value);
        }

        return outputs;
    }
}
