using Pipeline.Reporting;

namespace Pipeline.Tests.Reporting;

public sealed class JobSummaryTests
{
    [Test]
    public void Should_Tell_The_Rollback_And_Keep_A_Cause_With_Backticks_And_Pipes_Readable()
    {
        var facts = new JobSummaryFacts(
            "Deploy", "hello", "2.0.0", RunOutcomes.RolledBack, "blue", "green", "blue", "20261201-abc123", "http://127.0.0.1:8080/",
            TimeSpan.FromSeconds(9.5),
            [("PreDeploymentTests", TimeSpan.FromSeconds(1.25))],
            new RunFailure("PostIntegrationTests", "tests exited with 7:\n  ```| a | b |```", RunOutcomes.RolledBack, "removed container hello-green-1 | restored", "blue"),
            "./build.sh --target=Deploy --release-version=2.0.0",
            ["warning: hello: more"]);

        var markdown = JobSummary.Render(facts);

        markdown.ShouldContain("## ↩️ Deploy hello 2.0.0: rolled-back");
        markdown.ShouldContain("| colour | blue → blue (green was rolled back) |");
        markdown.ShouldContain("| PreDeploymentTests | 1.25 |");
        markdown.ShouldContain("| PostIntegrationTests | failed |");
        markdown.ShouldContain("````\ntests exited with 7:\n  ```| a | b |```\n````");
        markdown.ShouldContain("**Rollback:** removed container hello-green-1 \\| restored");
        markdown.ShouldContain("./build.sh --target=Deploy --release-version=2.0.0");
        markdown.ShouldContain("- warning: hello: more");
    }
}
