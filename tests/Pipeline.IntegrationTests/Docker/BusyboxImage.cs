using Pipeline.Docker;

namespace Pipeline.IntegrationTests.Docker;

/// <summary>
/// Builds a 2 MB image from the host's static busybox (FROM scratch: nothing is pulled) under a unique tag, so
/// integration tests have a shell, wget, httpd and sleep without depending on any image being present.
/// </summary>
internal static class BusyboxImage
{
    public const string Dockerfile = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        CMD ["sh"]
        """;

    /// <summary>A temporary build context with busybox and the given Dockerfile(s); delete it when done.</summary>
    public static string CreateContext(IReadOnlyDictionary<string, string>? files = null)
    {
        var folder = Directory.CreateTempSubdirectory("pipeline-busybox-").FullName;
        File.Copy("/bin/busybox", Path.Combine(folder, "busybox"));
        File.WriteAllText(Path.Combine(folder, "Dockerfile"), Dockerfile);
        foreach (var (name, content) in files ?? new Dictionary<string, string>())
        {
            var path = Path.Combine(folder, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
        }

        return folder;
    }

    /// <summary>Builds the busybox image as <c>pipeline-test-busybox:&lt;unique&gt;</c>; returns the reference.</summary>
    public static async Task<ImageRef> BuildAsync(IDockerEngine engine, CancellationToken ct = default)
    {
        var image = new ImageRef(null, "pipeline-test-busybox", TestEnvironment.UniqueName("t"));
        var context = CreateContext();
        try
        {
            await engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile", [image], TestLabels), null, ct);
            return image;
        }
        finally
        {
            Directory.Delete(context, true);
        }
    }

    /// <summary>Labels on everything these tests create.</summary>
    public static IReadOnlyDictionary<string, string> TestLabels { get; } = new Dictionary<string, string> { ["pipeline.test"] = "true" };

    /// <summary>Removes an image the tests built (force), ignoring a missing one.</summary>
    public static async Task RemoveImageAsync(ImageRef image)
    {
        using var client = new global::Docker.DotNet.DockerClientBuilder().WithEndpoint(TestEnvironment.Docker.Host).Build();
        try
        {
            await client.Images.DeleteImageAsync(image.ToString(), new global::Docker.DotNet.Models.ImageDeleteParameters { Force = true });
        }
        catch (global::Docker.DotNet.DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
        }
    }
}
