/// <summary>
/// When the suite itself runs in GitHub Actions (CI), the pipelines it runs in-process must not write workflow commands,
/// job summaries or step outputs for the real step: the variables are removed for the whole test run. Tests of the
/// GitHub Actions support set them on the processes they start.
/// </summary>
[SetUpFixture]
public sealed class OutsideGitHubActions
{
    [OneTimeSetUp]
    public void ForgetTheRunner()
    {
        foreach (var name in new[] { "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT" })
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }
}
