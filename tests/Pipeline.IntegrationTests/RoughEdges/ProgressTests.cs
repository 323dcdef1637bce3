using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Docker;
using Pipeline.IntegrationTests.Recovery;

namespace Pipeline.IntegrationTests.RoughEdges;

/// <summary>Long pushes show each layer's progress with sizes; <c>--verbosity=quiet</c> shows none of it.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ProgressTests
{
    [Test]
    public async Task Should_Show_A_Large_Layer_Pushing_In_Steps_With_Its_Size()
    {
        // Given an image with a 32 MB layer of random bytes (it does not compress; the engine reports a push's progress
        // every 3-4 MB, so a smaller layer may show no step on a fast machine)
        using var engine = new DockerEngine(TestEnvironment.Docker);
        var image = ImageRef.Parse($"{TestEnvironment.ImageRegistry}/{TestEnvironment.UniqueName("progress")}:1.0.0");
        var context = BusyboxImage.CreateContext(new Dictionary<string, string> { ["Dockerfile.big"] = "FROM busybox\nCOPY big.bin /big.bin\n" });
        await File.WriteAllBytesAsync(Path.Combine(context, "big.bin"), RandomNumberGenerator.GetBytes(32_000_000));
        try
        {
            await engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile.big", [image], BusyboxImage.TestLabels));

            // When it is pushed
            var lines = new List<string>();
            await engine.PushImageAsync(image, progress: new SynchronousProgress(lines));

            // Then the big layer showed its progress at steps with sizes, and its size once pushed
            var steps = lines.Where(l => Regex.IsMatch(l, @"^[0-9a-f]{12}: Pushing [0-9.]+ MB / 3[0-9]\.[0-9] MB \((20|40|60|80)%\)$")).ToList();
            steps.ShouldNotBeEmpty(string.Join('\n', lines));
            var layer = steps[0][..12];
            lines.ShouldContain(l => Regex.IsMatch(l, $@"^{layer}: Pushed 3[0-9]\.[0-9] MB$"), string.Join('\n', lines));
        }
        finally
        {
            Directory.Delete(context, recursive: true);
            await BusyboxImage.RemoveImageAsync(image);
        }
    }

    [Test]
    public async Task Should_Show_No_Build_Push_Or_Pull_Lines_At_Quiet_Verbosity()
    {
        // Given a service
        using var harness = new PipelineHarness("haproxy");
        var service = TestEnvironment.UniqueName("quiet");
        var dir = harness.CreateService(service);

        // When it is deployed at --verbosity=quiet, then at normal verbosity
        using var quiet = PipelineProcess.Start("Deploy", "1.0.0", PipelineProcess.IsolatedArguments(harness, dir).Append("--verbosity=quiet"));
        (await quiet.WaitForExitAsync(TimeSpan.FromSeconds(150))).ShouldBe(0, quiet.Output);
        using var normal = PipelineProcess.Start("Deploy", "2.0.0", PipelineProcess.IsolatedArguments(harness, dir));
        (await normal.WaitForExitAsync(TimeSpan.FromSeconds(150))).ShouldBe(0, normal.Output);

        // Then the quiet run showed none of the engine's progress, the normal one did
        quiet.Lines.ShouldNotContain(l => l.Contains("[build", StringComparison.Ordinal) || l.Contains("[push]", StringComparison.Ordinal) || l.Contains("[pull]", StringComparison.Ordinal), quiet.Output);
        normal.Lines.ShouldContain(l => l.Contains("[push] ", StringComparison.Ordinal));
        normal.Lines.ShouldContain(l => l.Contains("[build] sending build context: ", StringComparison.Ordinal));
    }

    /// <summary>Collects progress lines as they are reported (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class SynchronousProgress(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines)
            {
                lines.Add(value);
            }
        }
    }
}
