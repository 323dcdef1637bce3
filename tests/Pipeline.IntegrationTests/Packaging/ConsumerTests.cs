using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Xml.Linq;

namespace Pipeline.IntegrationTests.Packaging;

/// <summary>Packs the two libraries and uses them from a separate Frosting program through a local feed, as a user would.</summary>
[NonParallelizable]
public sealed class ConsumerTests
{
    private string _work = null!;

    [SetUp]
    public void CreateWorkFolder() => Directory.CreateDirectory(_work = Path.Combine(Path.GetTempPath(), TestEnvironment.UniqueName("pipeline-consumer")));

    [TearDown]
    public void RemoveWorkFolder() => Directory.Delete(_work, recursive: true);

    [Test]
    public void Should_Build_And_Run_A_Library_Task_When_Consumed_From_A_Local_Feed()
    {
        // Given both packages packed into a local folder feed, under a version no cache has seen
        var feed = Path.Combine(_work, "feed");
        var version = $"0.0.1-consumer.{DateTime.UtcNow:yyyyMMddHHmmss}{Random.Shared.Next(1000):D3}";
        foreach (var project in new[] { "src/Pipeline.Frosting/Pipeline.Frosting.csproj", "src/Pipeline/Pipeline.csproj" })
        {
            Run(TestEnvironment.RepositoryRoot, "dotnet", "pack", project, "-c", "Release", "-o", feed, $"-p:MinVerVersionOverride={version}");
        }

        Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Order()
            .ShouldBe([$"Pipeline.{version}.nupkg", $"Pipeline.Frosting.{version}.nupkg"]);

        // And a separate build program that references only the Pipeline package
        var app = Path.Combine(_work, "build");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Build.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Pipeline" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Microsoft.Extensions.DependencyInjection;
            using Pipeline;
            using Pipeline.Configuration;
            using Pipeline.Frosting;

            return new CakeHost()
                .UseContext<DeploymentContext>()
                .AddAssembly(typeof(Pipeline.Tasks.Status).Assembly)
                .ConfigureServices(s => s.AddSingleton(new DeploymentOptions { ServiceDirectory = args[0] }))
                .Run(args.Skip(1));
            """);
        var service = Path.Combine(_work, "consumer-svc");
        Directory.CreateDirectory(service);
        File.WriteAllText(Path.Combine(service, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(service, "Dockerfile.tests"), "FROM busybox\n");

        // When it is built and runs the library's Status task against the test etcd
        var output = Run(app, "dotnet", "run", "--", service, "--target=Status", "--format=json",
            $"--registry-endpoints={TestEnvironment.Etcd}", $"--key-prefix=test-consumer-{Guid.NewGuid().ToString("N")[..6]}");

        // Then the task ran and reported the (never deployed) service
        output.ShouldContain("\"service\": \"consumer-svc\"");
        output.ShouldContain("\"color\": null");
    }

    [Test]
    public void Should_Pack_The_Library_Without_Provisioning_Bench_Or_Test_Support()
    {
        // Given the Pipeline package, packed as the Pack target packs it
        var feed = Path.Combine(_work, "feed");
        var version = $"0.0.1-content.{DateTime.UtcNow:yyyyMMddHHmmss}{Random.Shared.Next(1000):D3}";
        Run(TestEnvironment.RepositoryRoot, "dotnet", "pack", "src/Pipeline/Pipeline.csproj", "-c", "Release", "-o", feed, $"-p:MinVerVersionOverride={version}");
        using var package = ZipFile.OpenRead(Path.Combine(feed, $"Pipeline.{version}.nupkg"));

        // When its assemblies' type namespaces and its dependencies are read
        var assemblies = package.Entries.Where(e => e.FullName.StartsWith("lib/", StringComparison.Ordinal) && e.FullName.EndsWith(".dll", StringComparison.Ordinal)).ToList();
        var namespaces = assemblies.SelectMany(TypeNamespaces).Distinct().ToList();
        var dependencies = package.Entries.Where(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal))
            .SelectMany(e => XDocument.Load(e.Open()).Descendants().Where(d => d.Name.LocalName == "dependency"))
            .Select(d => (string?)d.Attribute("id"))
            .ToList();

        // Then it holds Pipeline's own namespaces and none of the repo's tooling, and depends on none of it
        assemblies.Select(e => e.Name).ShouldContain("Pipeline.dll");
        namespaces.ShouldContain("Pipeline.Tasks");
        namespaces.ShouldNotContain(ns => ns.StartsWith("Pipeline.Provisioning", StringComparison.Ordinal)
            || ns.StartsWith("Pipeline.Bench", StringComparison.Ordinal)
            || ns.StartsWith("Build.Bench", StringComparison.Ordinal)
            || ns.StartsWith("Pipeline.Testing.Support", StringComparison.Ordinal));
        dependencies.ShouldContain("Pipeline.Frosting");
        dependencies.ShouldNotContain(id => id == "Pipeline.Provisioning" || id == "Pipeline.Bench" || id == "Pipeline.Testing");
    }

    /// <summary>The namespaces of the types an assembly inside the package defines.</summary>
    private static IEnumerable<string> TypeNamespaces(ZipArchiveEntry entry)
    {
        var bytes = new MemoryStream();
        using (var stream = entry.Open())
        {
            stream.CopyTo(bytes);
        }

        bytes.Position = 0;
        using var pe = new PEReader(bytes);
        var metadata = pe.GetMetadataReader();
        return metadata.TypeDefinitions.Select(h => metadata.GetString(metadata.GetTypeDefinition(h).Namespace)).Where(ns => ns.Length > 0).ToList();
    }

    private static string Run(string directory, string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["NO_COLOR"] = "1";
        foreach (var (name, value) in TestEnvironment.EtcdEnvironment)
        {
            start.Environment[name] = value;
        }

        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");
        start.Environment.Remove("MSBUILD_EXE_PATH");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var all = stdout + stderr.Result;
        process.ExitCode.ShouldBe(0, $"{program} {string.Join(' ', arguments)} in {directory} failed:\n{all}");
        return all;
    }
}
