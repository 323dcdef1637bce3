using Microsoft.Extensions.Time.Testing;
using Pipeline.Timing;

namespace Pipeline.Tests.Timing;

public sealed class PollTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    [Test]
    public async Task Should_Return_True_When_An_Attempt_Succeeds_Before_The_Deadline()
    {
        // Given a condition that holds from the third attempt on
        var time = new FakeTimeProvider();
        var attempts = 0;

        // When polled with a deadline far away, the clock moving one interval at a time
        var poll = Poll.UntilAsync(_ => Task.FromResult(++attempts == 3), TimeSpan.FromHours(1), Interval, time);
        var done = await RunClockUntilAsync(poll, time, Interval);

        // Then it stopped at the first success
        done.ShouldBeTrue();
        attempts.ShouldBe(3);
    }

    [Test]
    public async Task Should_Return_False_When_The_Deadline_Passes_First()
    {
        // Given a condition that never holds
        var time = new FakeTimeProvider();
        var attempts = 0;

        // When polled for 2 s
        var poll = Poll.UntilAsync(_ => Task.FromResult(++attempts < 0), TimeSpan.FromSeconds(2), Interval, time);
        var done = await RunClockUntilAsync(poll, time, Interval);

        // Then it tried, and gave up at the deadline
        done.ShouldBeFalse();
        attempts.ShouldBeGreaterThan(0);
    }

    [Test]
    public async Task Should_Cancel_A_Slow_Attempt_At_The_Deadline()
    {
        // Given an attempt that waits on its token
        var time = new FakeTimeProvider();
        CancellationToken seen = default;

        // When the deadline passes while it waits
        var poll = Poll.UntilAsync(async deadline =>
        {
            seen = deadline;
            await Task.Delay(Timeout.Infinite, deadline);
            return true;
        }, TimeSpan.FromSeconds(5), Interval, time);
        var done = await RunClockUntilAsync(poll, time, TimeSpan.FromSeconds(1));

        // Then the attempt was cancelled and the poll reports the deadline
        done.ShouldBeFalse();
        seen.IsCancellationRequested.ShouldBeTrue();
    }

    [Test]
    public async Task Should_Throw_When_The_Caller_Cancels()
    {
        using var caller = new CancellationTokenSource();
        var time = new FakeTimeProvider();

        var poll = Poll.UntilAsync(_ => Task.FromResult(false), TimeSpan.FromHours(1), Interval, time, caller.Token);
        await caller.CancelAsync();
        time.Advance(Interval);

        await Should.ThrowAsync<OperationCanceledException>(() => poll);
    }

    [Test]
    public async Task Should_Let_An_Attempts_Own_Exception_End_The_Wait()
    {
        var time = new FakeTimeProvider();

        var poll = Poll.UntilAsync(_ => throw new InvalidOperationException("the container exited"), TimeSpan.FromHours(1), Interval, time);

        (await Should.ThrowAsync<InvalidOperationException>(() => poll)).Message.ShouldBe("the container exited");
    }

    /// <summary>Moves the fake clock a step at a time until <paramref name="poll"/> finishes.</summary>
    private static async Task<bool> RunClockUntilAsync(Task<bool> poll, FakeTimeProvider time, TimeSpan step)
    {
        for (var steps = 0; !poll.IsCompleted; steps++)
        {
            steps.ShouldBeLessThan(100_000, "the poll never finished");
            await Task.Yield();
            time.Advance(step);
        }

        return await poll;
    }
}
