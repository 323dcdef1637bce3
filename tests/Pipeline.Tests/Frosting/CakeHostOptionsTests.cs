using Cake.Core;
using Cake.Core.IO;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Frosting;

namespace Pipeline.Tests.Frosting;

[NonParallelizable]
public sealed class CakeHostOptionsTests
{
    [TestCase("--dryrun")]
    [TestCase("--noop")]
    [TestCase("--whatif")]
    public void Should_List_The_Tasks_Without_Running_Them_On_A_Dry_Run(string option)
    {
        // Given
        var journal = new Journal();

        // When
        var result = FrostingHarness.Run(journal, [typeof(Build), typeof(Ship)], "--target=Ship", option);

        // Then
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBeEmpty();
        result.Out.ShouldContain("1. Build");
        result.Out.ShouldContain("2. Ship");
        result.Out.ShouldContain("No tasks were actually executed.");
    }

    [Test]
    public void Should_Show_The_Dependency_Tree()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build), typeof(Ship)], "--tree");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBeEmpty();
        result.Out.ShouldContain("Ship");
        result.Out.ShouldContain("Build");
        result.Out.IndexOf("Ship", StringComparison.Ordinal).ShouldBeLessThan(result.Out.LastIndexOf("Build", StringComparison.Ordinal));
    }

    [Test]
    public void Should_List_Every_Task_With_Its_Description()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build), typeof(Ship)], "--description");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBeEmpty();
        result.Out.ShouldContain("Build");
        result.Out.ShouldContain("Compiles the solution");
        result.Out.ShouldContain("Ship");
        result.Out.ShouldContain("Pushes the image");
    }

    [Test]
    public void Should_Run_Only_The_Target_When_Exclusive()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build), typeof(Ship)], "--target=Ship", "-e");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Ship"]);
    }

    [Test]
    public void Should_Pass_Unknown_Options_To_The_Context_As_Arguments()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(
            journal, [typeof(ReadArguments)], "--target=ReadArguments", "--service-dir=examples/hello", "--format", "json", "--tag=a", "--tag=b");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["service-dir=examples/hello", "format=json", "tags=a,b", "target=ReadArguments", "has-missing=False"]);
    }

    [Test]
    public void Should_Construct_Tasks_And_A_Custom_Context_Through_Dependency_Injection()
    {
        var journal = new Journal();
        var greeting = new Greeting("hello from DI");

        var result = FrostingHarness.Run(
            journal,
            [typeof(UsesCustomContext)],
            host => host.UseContext<ShopContext>().ConfigureServices(s => s.AddSingleton(greeting)),
            "--target=UsesCustomContext");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["hello from DI", "ShopContext"]);
    }

    [Test]
    public void Should_Warn_And_Not_Register_A_Task_Whose_Context_Is_Not_Provided()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build), typeof(UsesCustomContext)], "--target=Build");

        result.ExitCode.ShouldBe(0, result.All);
        result.All.ShouldContain("Task UsesCustomContext cannot be used since the context");
    }

    [Test]
    public void Should_Use_The_Working_Directory_Given_On_The_Command_Line()
    {
        var journal = new Journal();
        var directory = Directory.CreateTempSubdirectory("frosting-wd-");
        try
        {
            var result = FrostingHarness.Run(journal, [typeof(RecordWorkingDirectory)], "--target=RecordWorkingDirectory", $"--working={directory.FullName}");

            result.ExitCode.ShouldBe(0, result.All);
            journal.Entries.ShouldBe([new DirectoryPath(directory.FullName).FullPath]);
        }
        finally
        {
            directory.Delete();
        }
    }

    [Test]
    public void Should_Use_The_Working_Directory_Configured_On_The_Host()
    {
        var journal = new Journal();
        var directory = Directory.CreateTempSubdirectory("frosting-wd-");
        try
        {
            var result = FrostingHarness.Run(
                journal, [typeof(RecordWorkingDirectory)], host => host.UseWorkingDirectory(directory.FullName), "--target=RecordWorkingDirectory");

            result.ExitCode.ShouldBe(0, result.All);
            journal.Entries.ShouldBe([new DirectoryPath(directory.FullName).FullPath]);
        }
        finally
        {
            directory.Delete();
        }
    }

    [Test]
    public void Should_Fail_When_The_Working_Directory_Does_Not_Exist()
    {
        var journal = new Journal();
        var missing = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"frosting-missing-{Guid.NewGuid():N}");

        var result = FrostingHarness.Run(journal, [typeof(RecordWorkingDirectory)], "--target=RecordWorkingDirectory", "-w", missing);

        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBeEmpty();
        result.Error.ShouldContain($"The working directory '{missing}' does not exist.");
    }

    [Test]
    public void Should_Expose_Cake_Settings_Set_On_The_Host()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(
            journal, [typeof(ReadSetting)], host => host.UseCakeSetting("Pipeline_Color", "green"), "--target=ReadSetting");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["green"]);
    }

    [Test]
    public void Should_Hide_Information_At_Quiet_Verbosity()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build)], "--target=Build", "--verbosity", "quiet");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Build"]);
        result.Out.ShouldNotContain("Executing task: Build");
    }

    [Test]
    public void Should_Show_Debug_Output_At_Diagnostic_Verbosity()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build)], "--target=Build", "-v", "diagnostic");

        result.ExitCode.ShouldBe(0, result.All);
        result.Out.ShouldContain("Registering task: Build");
    }

    [Test]
    public void Should_Print_The_Version_Without_Running_Tasks()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Build)], "--version");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBeEmpty();
        result.Out.Trim().ShouldNotBeEmpty();
    }

    // ---- tasks ----

    [TaskName("Build")]
    [TaskDescription("Compiles the solution")]
    private sealed class Build(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Build");
    }

    [TaskName("Ship")]
    [TaskDescription("Pushes the image")]
    [IsDependentOn(typeof(Build))]
    private sealed class Ship(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Ship");
    }

    private sealed class ReadArguments(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context)
        {
            journal.Add($"service-dir={context.Arguments.GetArgument("service-dir")}");
            journal.Add($"format={context.Arguments.GetArgument("format")}");
            journal.Add($"tags={string.Join(',', context.Arguments.GetArguments("tag"))}");
            journal.Add($"target={context.Arguments.GetArgument("target")}");
            journal.Add($"has-missing={context.Arguments.HasArgument("missing")}");
        }
    }

    private sealed record Greeting(string Text);

    private sealed class ShopContext(ICakeContext context, Greeting greeting) : FrostingContext(context)
    {
        public string Greeting { get; } = greeting.Text;
    }

    private sealed class UsesCustomContext(Journal journal) : FrostingTask<ShopContext>
    {
        public override void Run(ShopContext context)
        {
            journal.Add(context.Greeting);
            journal.Add(context.GetType().Name);
        }
    }

    private sealed class RecordWorkingDirectory(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add(context.Environment.WorkingDirectory.FullPath);
    }

    private sealed class ReadSetting(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add(context.Configuration.GetValue("Pipeline_Color"));
    }
}
