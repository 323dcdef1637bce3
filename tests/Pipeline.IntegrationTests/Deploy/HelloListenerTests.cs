using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Deploy;

/// <summary>
/// examples/hello's listener: busybox httpd's own (backlog 9), or busybox nc with the backlog in <c>LISTEN_BACKLOG</c>
/// (the bench's copies use 128). The backlog is read with <c>ss</c> in the container's network namespace.
/// </summary>
[TestFixture]
public sealed class HelloListenerTests
{
    [TestCase(null, 9)]
    [TestCase(128, 128)]
    public async Task Should_Answer_And_Listen_With_The_Backlog_It_Was_Given(int? backlog, int expected)
    {
        // Given a copy of examples/hello, with LISTEN_BACKLOG set in its image or not
        var directory = ExampleService.CopyTo(TestEnvironment.RepositoryRoot, Directory.CreateTempSubdirectory("pipeline-hello-").FullName);
        if (backlog is { } given)
        {
            ExampleService.ListenWithBacklog(directory, given);
        }

        var name = TestEnvironment.UniqueName("hello-listener");
        try
        {
            // When its image runs
            await RunAsync("docker", "build", "-q", "-t", name, directory);
            await RunAsync("docker", "run", "-d", "--name", name, "--label", $"{PipelineHarness.Label}={name}", name);

            // Then it answers on 8080, and its listener's backlog (ss's Send-Q) is the given one
            var answer = "";
            for (var i = 0; i < 50 && !answer.Contains("hello from", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
                answer = (await new ProcessCommandRunner().RunAsync("docker", ["exec", name, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/"])).Output;
            }

            answer.ShouldContain("hello from hello dev (none)");
            var pid = (await RunAsync("docker", "inspect", "-f", "{{.State.Pid}}", name)).Trim();
            var listener = await RunAsync("nsenter", "-t", pid, "-n", "ss", "-Hltn", "sport = :8080");
            listener.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2].ShouldBe($"{expected}", listener);
        }
        finally
        {
            await new ProcessCommandRunner().RunAsync("docker", ["rm", "-f", name]);
            await new ProcessCommandRunner().RunAsync("docker", ["rmi", name]);
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<string> RunAsync(string command, params string[] arguments)
    {
        var result = await new ProcessCommandRunner().RunAsync(command, arguments);
        result.ExitCode.ShouldBe(0, $"{command} {string.Join(' ', arguments)}: {result.Output}");
        return result.Output;
    }
}
