namespace Pipeline.Testing.Support;

/// <summary>Copies of examples/hello for the bench and the integration tests, optionally failing one TEST_TYPE.</summary>
public static class ExampleService
{
    /// <summary>Copies examples/hello into <paramref name="directory"/>; with <paramref name="failAt"/> (a TEST_TYPE) those tests exit 7.</summary>
    public static string CopyTo(string repositoryRoot, string directory, string? failAt = null)
    {
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.GetFiles(Path.Combine(repositoryRoot, "examples", "hello")))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)), overwrite: true);
        }

        if (failAt is not null)
        {
            RunFirstInTests(directory, $"[ \"$TEST_TYPE\" = \"{failAt}\" ] && {{ echo \"failing {failAt} on purpose\"; exit 7; }}");
        }

        return directory;
    }

    /// <summary>
    /// Makes the copy listen through busybox nc with a backlog of <paramref name="backlog"/> (serve.sh's
    /// <c>LISTEN_BACKLOG</c>, set in both images) instead of busybox httpd's own listener, whose backlog is 9.
    /// </summary>
    public static void ListenWithBacklog(string directory, int backlog)
    {
        foreach (var dockerfile in new[] { "Dockerfile", "Dockerfile.tests" })
        {
            File.AppendAllText(Path.Combine(directory, dockerfile), $"ENV LISTEN_BACKLOG={backlog}\n");
        }
    }

    /// <summary>A shell word that expands to the container's IPv4 addresses but loopback, each followed by a space.</summary>
    public const string Addresses = "$(ip -4 -o addr show | awk '$2 != \"lo\" { sub(\"/.*\", \"\", $4); printf \"%s \", $4 }')";

    /// <summary>Makes the copy's tests.sh run <paramref name="shellLine"/> first, before it looks at TEST_TYPE.</summary>
    public static void RunFirstInTests(string directory, string shellLine)
    {
        const string testTypeCase = "case \"${TEST_TYPE:-}\" in";
        var tests = Path.Combine(directory, "tests.sh");
        File.WriteAllText(tests, File.ReadAllText(tests).Replace(testTypeCase, $"{shellLine}\n{testTypeCase}", StringComparison.Ordinal));
    }
}
