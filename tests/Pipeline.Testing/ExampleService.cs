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
            var tests = Path.Combine(directory, "tests.sh");
            File.WriteAllText(tests, File.ReadAllText(tests).Replace(
                "case \"${TEST_TYPE:-}\" in",
                $"[ \"$TEST_TYPE\" = \"{failAt}\" ] && {{ echo \"failing {failAt} on purpose\"; exit 7; }}\ncase \"${{TEST_TYPE:-}}\" in",
                StringComparison.Ordinal));
        }

        return directory;
    }
}
