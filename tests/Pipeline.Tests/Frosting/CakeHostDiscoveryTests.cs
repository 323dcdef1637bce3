using Cake.Core;
using Pipeline.Frosting;

namespace Pipeline.Tests.Frosting;

[NonParallelizable]
public sealed class CakeHostDiscoveryTests
{
    [Test]
    public void Should_Find_Public_Tasks_In_An_Added_Assembly()
    {
        // Given: the test assembly holds the public task below (the entry assembly is the test host)
        var journal = new Journal();

        // When: no task type is registered by hand, only the assembly
        var result = FrostingHarness.Run(
            journal, [], host => host.AddAssembly(typeof(CakeHostDiscoveryTests).Assembly), "--target=Frosting.Discovery.Probe");

        // Then
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["probe ran"]);
    }

    /// <summary>Public so that AddAssembly finds it; its name is unique across the test assembly.</summary>
    [TaskName("Frosting.Discovery.Probe")]
    public sealed class DiscoveryProbe : FrostingTask
    {
        public override void Run(ICakeContext context) =>
            ((Journal)context.ServiceProvider.GetService(typeof(Journal))!).Add("probe ran");
    }
}
