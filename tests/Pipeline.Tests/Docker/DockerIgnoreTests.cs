using Pipeline.Docker;

namespace Pipeline.Tests.Docker;

public sealed class DockerIgnoreTests
{
    [TestCase("secret.txt", "secret.txt", true)]
    [TestCase("secret.txt", "sub/secret.txt", false)]
    [TestCase("*.log", "debug.log", true)]
    [TestCase("*.log", "logs/debug.log", false)]
    [TestCase("**/*.log", "logs/deep/debug.log", true)]
    [TestCase("**/*.log", "debug.log", true)]
    [TestCase("bin", "bin/Release/app.dll", true)]
    [TestCase("/bin/", "bin/Release/app.dll", true)]
    [TestCase("./obj", "obj/project.assets.json", true)]
    [TestCase("b?n", "bin", true)]
    [TestCase("b?n", "bean", false)]
    [TestCase("[abc].txt", "b.txt", true)]
    [TestCase("[!abc].txt", "b.txt", false)]
    [TestCase("# comment", "# comment", false)]
    public void Should_Match_Like_Docker(string pattern, string path, bool excluded)
    {
        // Given
        var ignore = DockerIgnore.Parse([pattern]);

        // When / Then
        ignore.IsExcluded(path).ShouldBe(excluded);
    }

    [Test]
    public void Should_Let_The_Last_Matching_Pattern_Win()
    {
        // Given
        var ignore = DockerIgnore.Parse(["*.md", "!README.md", "README*.md"]);

        // Then
        ignore.IsExcluded("CHANGES.md").ShouldBeTrue();
        ignore.IsExcluded("README.md").ShouldBeTrue();
        DockerIgnore.Parse(["*.md", "!README.md"]).IsExcluded("README.md").ShouldBeFalse();
        ignore.HasExceptions.ShouldBeTrue();
    }

    [Test]
    public void Should_Write_Only_What_Is_Not_Ignored_But_Always_The_Dockerfile()
    {
        // Given
        var context = Directory.CreateTempSubdirectory("pipeline-ctx-").FullName;
        try
        {
            foreach (var file in new[] { "Dockerfile.tests", ".dockerignore", "src/app.cs", "bin/app.dll", "logs/keep.log", "logs/drop.log" })
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(context, file))!);
                File.WriteAllText(Path.Combine(context, file), file);
            }

            File.WriteAllText(Path.Combine(context, ".dockerignore"), "Dockerfile*\nbin\nlogs\n!logs/keep.log\n");
            using var tar = new MemoryStream();

            // When
            BuildContext.WriteAsync(context, "Dockerfile.tests", tar, CancellationToken.None).GetAwaiter().GetResult();

            // Then
            tar.Position = 0;
            var names = new List<string>();
            using var reader = new System.Formats.Tar.TarReader(tar);
            while (reader.GetNextEntry() is { } entry)
            {
                names.Add(entry.Name);
            }

            names.ShouldBe([".dockerignore", "Dockerfile.tests", "logs/keep.log", "src", "src/app.cs"]);
        }
        finally
        {
            Directory.Delete(context, true);
        }
    }
}
