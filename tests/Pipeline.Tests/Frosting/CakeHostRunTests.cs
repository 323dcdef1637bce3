using System.Runtime.ExceptionServices;
using Cake.Core;
using Pipeline.Frosting;

namespace Pipeline.Tests.Frosting;

[NonParallelizable]
public sealed class CakeHostRunTests
{
    [Test]
    public void Should_Run_Dependencies_Before_The_Target_In_Order()
    {
        // Given
        var journal = new Journal();

        // When
        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(Test), typeof(Publish)], "--target=Publish");

        // Then
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Compile", "Test", "Publish"]);
    }

    [Test]
    public void Should_Run_A_Dependee_Before_The_Task_It_Declares()
    {
        // Given: Lint declares [IsDependeeOf(typeof(Test))]
        var journal = new Journal();

        // When
        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(Test), typeof(Lint)], "--target", "Test");

        // Then
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Compile", "Lint", "Test"]);
    }

    [Test]
    public void Should_Run_The_Task_Named_Default_When_No_Target_Is_Given()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(DefaultTask)]);

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Compile", "Default"]);
    }

    [Test]
    public void Should_Run_Several_Targets_In_The_Given_Order()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(Lint), typeof(Test)], "-t", "Lint", "--target", "Compile");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Lint", "Compile"]);
    }

    [Test]
    public void Should_Run_A_Dependency_Shared_By_Several_Targets_Once()
    {
        // Given: Test and Docs both depend on Compile; alphabetically Docs would come first
        var journal = new Journal();

        // When
        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(Test), typeof(Docs)], "--target=Test", "--target=Docs");

        // Then
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Compile", "Test", "Docs"]);
    }

    [Test]
    public void Should_Skip_A_Task_And_Report_Why_When_ShouldRun_Is_False()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(SkippedPackage), typeof(AfterPackage)], "--target=AfterPackage");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["Compile", "AfterPackage"]);
        result.Out.ShouldContain("Package");
        result.Out.ShouldContain("no changes");
    }

    [Test]
    public void Should_Read_A_SkippedMessage_Declared_On_A_Task_That_Relists_IFrostingTask()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(SkippedRelisted), typeof(AfterRelisted)], "--target=AfterRelisted");

        result.ExitCode.ShouldBe(0, result.All);
        result.Out.ShouldContain("read-only");
    }

    [Test]
    public void Should_Fail_When_The_Target_Itself_Is_Skipped()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(SkippedPackage)], "--target=Package");

        result.ExitCode.ShouldBe(1);
        result.All.ShouldContain("Could not reach target 'Package'");
    }

    [Test]
    public void Should_Call_OnError_And_Keep_The_Run_Failed_When_It_Rethrows()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(FailsAndRethrows)], "--target=FailsAndRethrows");

        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBe(["run", "OnError: disk full on /var/lib/docker", "Finally"]);
        result.Error.ShouldContain("Error: disk full on /var/lib/docker");
    }

    [Test]
    public void Should_Recover_When_OnError_Returns_Normally()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(FailsAndRecovers), typeof(AfterRecovery)], "--target=AfterRecovery");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["OnError: flaky", "AfterRecovery"]);
    }

    [Test]
    public void Should_Continue_After_A_ContinueOnError_Task_Fails_And_Still_Call_Its_OnError()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(ContinuesOnError), typeof(AfterContinue)], "--target=AfterContinue");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["OnError: optional step failed", "AfterContinue"]);
    }

    [Test]
    public void Should_Run_Finally_When_The_Task_Succeeds()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(WithFinally)], "--target=WithFinally");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["run", "Finally"]);
    }

    [Test]
    public void Should_Return_The_Exit_Code_Of_A_CakeException()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(ThrowsCakeException)], "--target=ThrowsCakeException");

        result.ExitCode.ShouldBe(3);
        result.Error.ShouldContain("Error: tests in the test container exited with 3");
    }

    [Test]
    public void Should_Return_1_For_Any_Other_Exception()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(ThrowsInvalidOperation)], "--target=ThrowsInvalidOperation");

        result.ExitCode.ShouldBe(1);
        result.Error.ShouldContain("Error: proxy config rejected");
    }

    [Test]
    public void Should_Return_1_And_Name_The_Target_When_It_Does_Not_Exist()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Compile)], "--target=Nope");

        result.ExitCode.ShouldBe(1);
        result.Error.ShouldContain("The target 'Nope' was not found.");
    }

    [Test]
    public void Should_Run_An_Async_Task()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(AsyncWork)], "--target=AsyncWork");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["before await", "after await"]);
    }

    [Test]
    public void Should_Print_The_Task_Report_With_Every_Task()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(Compile), typeof(Test), typeof(Publish)], "--target=Publish");

        result.ExitCode.ShouldBe(0, result.All);
        result.Out.ShouldContain("Task");
        result.Out.ShouldContain("Duration");
        result.Out.ShouldContain("Publish");
        result.Out.ShouldContain("Total:");
    }

    // ---- tasks (private: registered by type per run, invisible to AddAssembly) ----

    private sealed class Compile(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Compile");
    }

    [IsDependentOn(typeof(Compile))]
    private sealed class Test(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Test");
    }

    [IsDependentOn(typeof(Test))]
    private sealed class Publish(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Publish");
    }

    [IsDependentOn(typeof(Compile))]
    private sealed class Docs(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Docs");
    }

    [IsDependeeOf(typeof(Test))]
    private sealed class Lint(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Lint");
    }

    [TaskName("Default")]
    [IsDependentOn(typeof(Compile))]
    private sealed class DefaultTask(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("Default");
    }

    [TaskName("Package")]
    [IsDependentOn(typeof(Compile))]
    private sealed class SkippedPackage(Journal journal) : FrostingTask
    {
        public string SkippedMessage => "no changes";

        public override bool ShouldRun(ICakeContext context) => false;

        public override void Run(ICakeContext context) => journal.Add("Package");
    }

    [IsDependentOn(typeof(SkippedPackage))]
    private sealed class AfterPackage(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("AfterPackage");
    }

    private sealed class SkippedRelisted : FrostingTask, IFrostingTask
    {
        public string SkippedMessage => "read-only";

        public override bool ShouldRun(ICakeContext context) => false;
    }

    [IsDependentOn(typeof(SkippedRelisted))]
    private sealed class AfterRelisted : FrostingTask
    {
        public override void Run(ICakeContext context)
        {
        }
    }

    private sealed class FailsAndRethrows(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context)
        {
            journal.Add("run");
            throw new IOException("disk full on /var/lib/docker");
        }

        public override void OnError(Exception exception, ICakeContext context)
        {
            journal.Add($"OnError: {exception.Message}");
            ExceptionDispatchInfo.Capture(exception).Throw();
        }

        public override void Finally(ICakeContext context) => journal.Add("Finally");
    }

    private sealed class FailsAndRecovers(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => throw new InvalidOperationException("flaky");

        public override void OnError(Exception exception, ICakeContext context) => journal.Add($"OnError: {exception.Message}");
    }

    [IsDependentOn(typeof(FailsAndRecovers))]
    private sealed class AfterRecovery(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("AfterRecovery");
    }

    [ContinueOnError]
    private sealed class ContinuesOnError(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => throw new InvalidOperationException("optional step failed");

        public override void OnError(Exception exception, ICakeContext context) => journal.Add($"OnError: {exception.Message}");
    }

    [IsDependentOn(typeof(ContinuesOnError))]
    private sealed class AfterContinue(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("AfterContinue");
    }

    private sealed class WithFinally(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("run");

        public override void Finally(ICakeContext context) => journal.Add("Finally");
    }

    private sealed class ThrowsCakeException : FrostingTask
    {
        public override void Run(ICakeContext context) => throw new CakeException(3, "tests in the test container exited with 3");
    }

    private sealed class ThrowsInvalidOperation : FrostingTask
    {
        public override void Run(ICakeContext context) => throw new InvalidOperationException("proxy config rejected");
    }

    private sealed class AsyncWork(Journal journal) : AsyncFrostingTask
    {
        public override async Task RunAsync(ICakeContext context)
        {
            journal.Add("before await");
            await Task.Yield();
            journal.Add("after await");
        }
    }
}
