using Docker.DotNet.Models;
using Pipeline.Docker;

namespace Pipeline.Tests.Docker;

public sealed class LayerProgressTests
{
    [Test]
    public void Should_Show_Each_Layer_At_Every_Fifth_With_Sizes_And_Its_Size_When_Done()
    {
        // Given a push of a 21 MB layer and a 500 B layer, reported in 1 MB steps
        var progress = new LayerProgress();
        var messages = new List<JSONMessage> { new() { ID = "big", Status = "Preparing" }, new() { ID = "small", Status = "Preparing" } };
        for (long sent = 0; sent <= 21_000_000; sent += 1_000_000)
        {
            messages.Add(new JSONMessage { ID = "big", Status = "Pushing", Progress = new JSONProgress { Current = sent, Total = 21_000_000 } });
        }

        messages.Add(new JSONMessage { ID = "small", Status = "Pushing", Progress = new JSONProgress { Current = 250, Total = 500 } });
        messages.Add(new JSONMessage { ID = "small", Status = "Pushing", Progress = new JSONProgress { Current = 500, Total = 500 } });
        messages.Add(new JSONMessage { ID = "small", Status = "Pushed" });
        messages.Add(new JSONMessage { ID = "big", Status = "Pushed" });
        messages.Add(new JSONMessage { Status = "2.0.0: digest: sha256:abc size: 739" });

        // When formatted
        var lines = messages.SelectMany(progress.Format).ToList();

        // Then each layer's status changes show, the big one's progress at 20% steps with sizes, and sizes when done
        lines.ShouldBe(
        [
            "big: Preparing",
            "small: Preparing",
            "big: Pushing 21.0 MB",
            "big: Pushing 5.0 MB / 21.0 MB (20%)",
            "big: Pushing 9.0 MB / 21.0 MB (40%)",
            "big: Pushing 13.0 MB / 21.0 MB (60%)",
            "big: Pushing 17.0 MB / 21.0 MB (80%)",
            "small: Pushing 500 B",
            "small: Pushed 500 B",
            "big: Pushed 21.0 MB",
            "2.0.0: digest: sha256:abc size: 739",
        ]);
    }

    [TestCase(999, "999 B")]
    [TestCase(4_200, "4.2 kB")]
    [TestCase(21_000_000, "21.0 MB")]
    [TestCase(1_300_000_000, "1.3 GB")]
    public void Should_Show_Sizes_As_The_Docker_Cli_Does(long bytes, string shown) => LayerProgress.Size(bytes).ShouldBe(shown);
}
