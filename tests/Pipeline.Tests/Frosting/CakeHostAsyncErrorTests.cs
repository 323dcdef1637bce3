using System.Runtime.ExceptionServices;
using Cake.Core;
using Pipeline.Frosting;

namespace Pipeline.Tests.Frosting;

/// <summary>The host's asynchronous failure path: <c>OnErrorAsync</c> is awaited by Cake's engine, and a context is disposed asynchronously.</summary>
[NonParallelizable]
public sealed class CakeHostAsyncErrorTests
{
    /// <summary>Long enough that a handler the engine did not await would finish after the task's Finally.</summary>
    private static readonly TimeSpan HandlerWork = TimeSpan.FromMilliseconds(200);

    [Test]
    public void Should_Await_OnErrorAsync_And_Keep_The_Run_Failed_When_It_Rethrows()
    {
        // Given an async task that fails, and whose OnErrorAsync awaits work before rethrowing
        var journal = new Journal();

        // When it runs
        var result = FrostingHarness.Run(journal, [typeof(FailsAndRethrowsAsync)], "--target=FailsAndRethrowsAsync");

        // Then the handler ran to its end before Finally, and the run failed with the task's error
        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBe(["run", "OnErrorAsync: registry gone", "OnErrorAsync done", "Finally"]);
        result.Error.ShouldContain("Error: registry gone");
    }

    [Test]
    public void Should_Recover_When_OnErrorAsync_Returns_Normally()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(FailsAndRecoversAsync), typeof(AfterAsyncRecovery)], "--target=AfterAsyncRecovery");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["OnErrorAsync done: flaky", "AfterAsyncRecovery"]);
    }

    [Test]
    public void Should_Await_OnErrorAsync_Of_A_ContinueOnError_Task_Then_Continue()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(ContinuesOnErrorAsync), typeof(AfterAsyncContinue)], "--target=AfterAsyncContinue");

        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["OnErrorAsync done: optional step failed", "AfterAsyncContinue"]);
    }

    [Test]
    public void Should_Call_OnError_Of_An_Async_Task_That_Overrides_Only_OnError()
    {
        var journal = new Journal();

        var result = FrostingHarness.Run(journal, [typeof(AsyncWithSyncOnError)], "--target=AsyncWithSyncOnError");

        result.ExitCode.ShouldBe(1);
        journal.Entries.ShouldBe(["OnError: proxy rejected"]);
    }

    [Test]
    public void Should_Dispose_A_Context_That_Is_Only_Asynchronously_Disposable()
    {
        // Given a context that implements IAsyncDisposable only (a synchronous Dispose of the services would throw)
        var journal = new Journal();

        // When a run that uses it ends
        var result = FrostingHarness.Run(journal, [typeof(UsesAsyncContext)], host => host.UseContext<AsyncDisposableContext>(), "--target=UsesAsyncContext");

        // Then the run succeeded and the context's DisposeAsync ran to its end
        result.ExitCode.ShouldBe(0, result.All);
        journal.Entries.ShouldBe(["run", "disposed after await"]);
    }

    private sealed class FailsAndRethrowsAsync(Journal journal) : AsyncFrostingTask
    {
        public override Task RunAsync(ICakeContext context)
        {
            journal.Add("run");
            throw new IOException("registry gone");
        }

        public override async Task OnErrorAsync(Exception exception, ICakeContext context)
        {
            journal.Add($"OnErrorAsync: {exception.Message}");
            await Task.Delay(HandlerWork);
            journal.Add("OnErrorAsync done");
            ExceptionDispatchInfo.Capture(exception).Throw();
        }

        public override void Finally(ICakeContext context) => journal.Add("Finally");
    }

    private sealed class FailsAndRecoversAsync(Journal journal) : AsyncFrostingTask
    {
        public override Task RunAsync(ICakeContext context) => throw new InvalidOperationException("flaky");

        public override async Task OnErrorAsync(Exception exception, ICakeContext context)
        {
            await Task.Delay(HandlerWork);
            journal.Add($"OnErrorAsync done: {exception.Message}");
        }
    }

    [IsDependentOn(typeof(FailsAndRecoversAsync))]
    private sealed class AfterAsyncRecovery(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("AfterAsyncRecovery");
    }

    [ContinueOnError]
    private sealed class ContinuesOnErrorAsync(Journal journal) : AsyncFrostingTask
    {
        public override Task RunAsync(ICakeContext context) => throw new InvalidOperationException("optional step failed");

        public override async Task OnErrorAsync(Exception exception, ICakeContext context)
        {
            await Task.Delay(HandlerWork);
            journal.Add($"OnErrorAsync done: {exception.Message}");
        }
    }

    [IsDependentOn(typeof(ContinuesOnErrorAsync))]
    private sealed class AfterAsyncContinue(Journal journal) : FrostingTask
    {
        public override void Run(ICakeContext context) => journal.Add("AfterAsyncContinue");
    }

    private sealed class AsyncWithSyncOnError(Journal journal) : AsyncFrostingTask
    {
        public override Task RunAsync(ICakeContext context) => throw new InvalidOperationException("proxy rejected");

        public override void OnError(Exception exception, ICakeContext context)
        {
            journal.Add($"OnError: {exception.Message}");
            ExceptionDispatchInfo.Capture(exception).Throw();
        }
    }

    private sealed class AsyncDisposableContext(ICakeContext context, Journal journal) : FrostingContext(context), IAsyncDisposable
    {
        public Journal Journal { get; } = journal;

        public async ValueTask DisposeAsync()
        {
            await Task.Delay(HandlerWork);
            Journal.Add("disposed after await");
        }
    }

    private sealed class UsesAsyncContext : AsyncFrostingTask<AsyncDisposableContext>
    {
        public override Task RunAsync(AsyncDisposableContext context)
        {
            context.Journal.Add("run");
            return Task.CompletedTask;
        }
    }
}
