using Cake.Core;
using Pipeline.Frosting;

namespace Pipeline.Tests.Frosting;

[NonParallelizable]
public sealed class CakeHostLifetimeTests
{
    [Test]
    public void Should_Run_Setup_And_Teardown_Around_The_Run_And_Task_Lifetime_Around_Each_Task()
    {
        // Given
        var journal = new Journal();

        // When
        var result = FrostingHarness.Run(
            journal,
            [typeof(First), typeof(Second)],
            host => host.UseLifetime<RunLifetime>().UseTaskLifetime<PerTaskLifetime>(),
            "--target=Second");

        // Then
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(
        [
            "Setup target=Second tasks=First,Second",
            "TaskSetup First", "First", "TaskTeardown First skipped=False",
            "TaskSetup Second", "Second", "TaskTeardown Second skipped=False",
            "Teardown successful=True",
        ]);
    }

    [Test]
    public void Should_Run_Teardown_With_The_Failure_When_A_Task_Fails()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(
            journal, [typeof(Broken)], host => host.UseLifetime<RunLifetime>().UseTaskLifetime<PerTaskLifetime>(), "--target=Broken");

        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBe(
        [
            "Setup target=Broken tasks=Broken",
            "TaskSetup Broken", "TaskTeardown Broken skipped=False",
            "Teardown successful=False error=registry unreachable",
        ]);
        result.Error.ShouldContain("Error: registry unreachable");
    }

    [Test]
    public void Should_Run_Separate_Setup_And_Teardown_Types()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(
            journal, [typeof(First)], host => host.UseSetup<OnlySetup>().UseTeardown<OnlyTeardown>(), "--target=First");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["OnlySetup", "First", "OnlyTeardown"]);
    }

    [Test]
    public void Should_Not_Run_Tasks_When_Setup_Fails_But_Still_Tear_Down()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(
            journal, [typeof(First)], host => host.UseSetup<FailingSetup>().UseTeardown<OnlyTeardown>(), "--target=First");

        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBe(["OnlyTeardown"]);
        result.Error.ShouldContain("Error: options are invalid: --service-dir is required");
    }

    [Test]
    public void Should_Run_Setup_But_No_Task_Or_Task_Lifetime_On_A_Dry_Run()
    {
        // Cake's dry run still runs the global Setup/Teardown (so criteria can use what Setup prepared).
        var journal = new Journal();

        var result = FrostingHarness.Run(
            journal,
            [typeof(First), typeof(Second)],
            host => host.UseLifetime<RunLifetime>().UseTaskLifetime<PerTaskLifetime>(),
            "--target=Second", "--dryrun");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Setup target=Second tasks=First,Second", "Teardown successful=True"]);
    }

    // ---- tasks and lifetimes ----

    private sealed class First(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("First");
    }

    [IsDependentOn(typeof(First))]
    private sealed class Second(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Second");
    }

    private sealed class Broken : FrostingTask
    {
        public override void Run(ICakeContext context) => throw new HttpRequestException("registry unreachable");
    }

    private sealed class RunLifetime(Journal journal) : FrostingLifetime
    {
        public override void Setup(ICakeContext context, ISetupContext info) =>
            journal.Add($"Setup target={info.TargetTask.Name} tasks={string.Join(',', info.TasksToExecute.Select(t => t.Name))}");

        public override void Teardown(ICakeContext context, ITeardownContext info) =>
            journal.Add(info.Successful
                ? "Teardown successful=True"
                : $"Teardown successful=False error={info.ThrownException?.InnerException?.Message ?? info.ThrownException?.Message}");
    }

    private sealed class PerTaskLifetime(Journal journal) : FrostingTaskLifetime
    {
        public override void Setup(ICakeContext context, ITaskSetupContext info) => journal.Add($"TaskSetup {info.Task.Name}");

        public override void Teardown(ICakeContext context, ITaskTeardownContext info) =>
            journal.Add($"TaskTeardown {info.Task.Name} skipped={info.Skipped}");
    }

    private sealed class OnlySetup(Journal journal) : FrostingSetup
    {
        public override void Setup(ICakeContext context, ISetupContext info) => journal.Add("OnlySetup");
    }

    private sealed class FailingSetup : FrostingSetup
    {
        public override void Setup(ICakeContext context, ISetupContext info) =>
            throw new ArgumentException("options are invalid: --service-dir is required");
    }

    private sealed class OnlyTeardown(Journal journal) : FrostingTeardown
    {
        public override void Teardown(ICakeContext context, ITeardownContext info) => journal.Add("OnlyTeardown");
    }
}
