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

    [Test]
    public void Should_Call_A_Context_That_Observes_Tasks_Beside_The_Registered_Lifetimes()
    {
        // Given a context implementing the task lifetime and teardown interfaces, and a registered task lifetime
        var journal = new Journal();

        // When a run's second task fails
        var result = FrostingHarness.Run(
            journal,
            [typeof(First), typeof(BrokenAfterFirst)],
            host => host.UseContext<ObservingContext>().UseTaskLifetime<PerTaskLifetime>(),
            "--target=BrokenAfterFirst");

        // Then the context saw each task start and end (with its failure) and the run end, beside the lifetime
        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBe(
        [
            "context: start First", "TaskSetup First", "First", "TaskTeardown First skipped=False", "context: end First ok",
            "context: start BrokenAfterFirst", "TaskSetup BrokenAfterFirst", "TaskTeardown BrokenAfterFirst skipped=False",
            "context: end BrokenAfterFirst failed: registry unreachable",
            "context: run failed",
        ]);
    }

    [Test]
    public void Should_Ask_Each_Task_That_Would_Run_What_It_Would_Do_On_A_Dry_Run()
    {
        // Given a target whose dependency can describe itself, and a target task that can too
        var journal = new Journal();

        // When it is dry-run
        var result = FrostingHarness.Run(journal, [typeof(Describing), typeof(DescribingTarget)], "--target=DescribingTarget", "--dryrun");

        // Then both said what they would do, dependencies first, and neither ran
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["would do Describing", "would do DescribingTarget"]);
        result.Out.ShouldContain("DescribingTarget");
    }

    [Test]
    public void Should_Not_Ask_Tasks_What_They_Would_Do_On_A_Real_Run()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Describing), typeof(DescribingTarget)], "--target=DescribingTarget");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["ran Describing", "ran DescribingTarget"]);
    }

    // ---- tasks and lifetimes ----

    [IsDependentOn(typeof(First))]
    private sealed class BrokenAfterFirst : FrostingTask
    {
        public override void Run(ICakeContext context) => throw new HttpRequestException("registry unreachable");
    }

    private sealed class Describing(Journal journal) : FrostingTask, IFrostingDryRunTask
    {
        public override void Run(ICakeContext context) => journal.Add("ran Describing");

        public Task DryRunAsync(ICakeContext context)
        {
            journal.Add("would do Describing");
            return Task.CompletedTask;
        }
    }

    [IsDependentOn(typeof(Describing))]
    private sealed class DescribingTarget(Journal journal) : AsyncFrostingTask, IFrostingDryRunTask
    {
        public override Task RunAsync(ICakeContext context)
        {
            journal.Add("ran DescribingTarget");
            return Task.CompletedTask;
        }

        public async Task DryRunAsync(ICakeContext context)
        {
            await Task.Yield();
            journal.Add("would do DescribingTarget");
        }
    }

    private sealed class ObservingContext(ICakeContext context, Journal journal)
        : FrostingContext(context), IFrostingTaskSetup, IFrostingTaskTeardown, IFrostingTeardown
    {
        void IFrostingTaskSetup.Setup(ICakeContext context, ITaskSetupContext info) => journal.Add($"context: start {info.Task.Name}");

        void IFrostingTaskTeardown.Teardown(ICakeContext context, ITaskTeardownContext info) =>
            journal.Add($"context: end {info.Task.Name} {(info.Successful ? "ok" : $"failed: {info.ThrownException?.Message}")}");

        void IFrostingTeardown.Teardown(ICakeContext context, ITeardownContext info) =>
            journal.Add(info.Successful ? "context: run ok" : "context: run failed");
    }

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
