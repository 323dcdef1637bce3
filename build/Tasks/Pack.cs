using Pipeline;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>Packs Pipeline.Frosting and Pipeline into artifacts/packages.</summary>
[TaskName("Pack")]
[TaskDescription("Packs Pipeline.Frosting and Pipeline (with README, XML docs, SourceLink, version from git tags) into artifacts/packages.")]
public sealed class Pack : FrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override void Run(DeploymentContext context)
    {
        var output = Path.Combine(context.Environment.WorkingDirectory.FullPath, "artifacts", "packages");
        foreach (var project in new[] { "src/Pipeline.Frosting/Pipeline.Frosting.csproj", "src/Pipeline/Pipeline.csproj" })
        {
            Shell.Run(context, "dotnet", "pack", project, "--configuration", "Release", "--output", output, "-p:EnableSourceLink=true", "-p:ContinuousIntegrationBuild=true");
        }
    }
}
