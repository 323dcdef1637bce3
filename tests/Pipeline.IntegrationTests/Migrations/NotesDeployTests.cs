using System.Net;
using System.Text;

namespace Pipeline.IntegrationTests.Migrations;

/// <summary>examples/notes as it is, a service with a database, deployed blue-green by the pipeline against a real PostgreSQL.</summary>
[NonParallelizable]
public sealed class NotesDeployTests
{
    /// <summary>A copy of examples/notes (with its migrations) in a temporary folder named <paramref name="service"/>.</summary>
    internal static string CopyNotes(string root, string service)
    {
        var source = Path.Combine(TestEnvironment.RepositoryRoot, "examples", "notes");
        var target = Path.Combine(root, service);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Where(f => !f.Contains("__pycache__", StringComparison.Ordinal)))
        {
            var copy = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }

        return target;
    }

    [Test]
    public async Task Should_Deploy_Notes_Blue_Then_Green_With_Its_Rows_Kept_In_The_Database()
    {
        // Given a harness and a database on its network
        using var harness = new PipelineHarness("haproxy");
        await using var database = await PostgresServer.StartAsync(harness.Network);
        var url = await database.CreateDatabaseAsync();
        var root = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("pipeline-notes"));
        var service = TestEnvironment.UniqueName("notes");
        var folder = CopyNotes(root, service);
        try
        {
            var releaseEnvironment = new Dictionary<string, string> { ["DATABASE_URL"] = url.Value };

            // When 1.0.0 is deployed with DATABASE_URL, a note is written through the proxy, then 2.0.0 is deployed
            PipelineHarness.Run(harness.OptionsFor(folder, "1.0.0") with { ReleaseEnvironment = releaseEnvironment }).ShouldBe(0);
            var blue = await harness.GetThroughProxyAsync();
            var created = await PostThroughProxyAsync(harness, "{\"body\": \"kept across deploys\", \"author\": \"test\"}");
            PipelineHarness.Run(harness.OptionsFor(folder, "2.0.0") with { ReleaseEnvironment = releaseEnvironment }).ShouldBe(0);
            var green = await harness.GetThroughProxyAsync();

            // Then the first deploy applied the expand migrations before blue started and the contract one after it was
            // live alone; each colour answered from the same database: the note written through blue is read through
            // green, and the tests' own notes were cleaned up
            (await database.MigrationRowsAsync(url)).ShouldBe(["1 create_notes expand", "2 add_author expand", "3 drop_title contract"]);
            created.Status.ShouldBe(HttpStatusCode.Created);
            (blue.Status, blue.Color, blue.Body).ShouldBe((HttpStatusCode.OK, "blue", $"notes from {service} 1.0.0 (blue): 0 notes\n"));
            (green.Status, green.Color, green.Body).ShouldBe((HttpStatusCode.OK, "green", $"notes from {service} 2.0.0 (green): 1 notes\n"));
            (await database.SuperuserAsync(url.Database, "SELECT body || ' by ' || author FROM notes")).ShouldBe("kept across deploys by test");
            (await harness.ReleasesAsync(service)).ShouldHaveSingleItem().Labels[Labels.Version].ShouldBe("2.0.0");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> PostThroughProxyAsync(PipelineHarness harness, string json)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(harness.ProxyUrl, "/notes")) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.ConnectionClose = true;
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
