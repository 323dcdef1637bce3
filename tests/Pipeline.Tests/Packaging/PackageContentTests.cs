using System.Reflection;
using Pipeline.Bench;
using Pipeline.Provisioning;

namespace Pipeline.Tests.Packaging;

/// <summary>
/// The packed library holds the product alone: provisioning, the bench and the test support are repo tooling in their
/// own projects, which the Pipeline assembly neither contains nor references.
/// </summary>
public sealed class PackageContentTests
{
    /// <summary>Namespaces of repo tooling (Build.Bench is where the bench lived before it got its own project).</summary>
    private static readonly string[] ToolingNamespaces = ["Pipeline.Provisioning", "Pipeline.Bench", "Pipeline.Testing.Support", "Build.Bench"];

    private static readonly string[] ToolingAssemblies = ["Pipeline.Provisioning", "Pipeline.Bench", "Pipeline.Testing", "Build"];

    [Test]
    public void Should_Contain_No_Provisioning_Bench_Or_Test_Support_Types()
    {
        // Given the built Pipeline assembly (the one `dotnet pack` puts in the package)
        var pipeline = typeof(DeploymentContext).Assembly;

        // When its types are listed by namespace
        var tooling = ToolingTypes(pipeline);

        // Then none belongs to repo tooling
        tooling.ShouldBeEmpty();
    }

    [Test]
    public void Should_Reference_No_Tooling_Assembly()
    {
        var references = typeof(DeploymentContext).Assembly.GetReferencedAssemblies().Select(a => a.Name);

        references.ShouldNotContain(name => ToolingAssemblies.Contains(name), $"Pipeline references {string.Join(", ", references)}");
    }

    [TestCase(typeof(LocalServices), "Pipeline.Provisioning")]
    [TestCase(typeof(BenchOptions), "Pipeline.Bench")]
    [TestCase(typeof(Testing.Support.PipelineHarness), "Pipeline.Testing.Support")]
    public void Should_Find_Tooling_Types_Where_They_Live(Type known, string expectedNamespace)
    {
        // The same check finds the tooling in its own assemblies, so an empty answer above means "none there".
        ToolingTypes(known.Assembly).ShouldContain(known.FullName!);
        known.Namespace.ShouldBe(expectedNamespace);
    }

    private static List<string> ToolingTypes(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => t.Namespace is { } ns && ToolingNamespaces.Any(tooling => ns == tooling || ns.StartsWith(tooling + ".", StringComparison.Ordinal)))
            .Select(t => t.FullName!)
            .ToList();
}
