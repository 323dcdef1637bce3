using Pipeline.Healing;

namespace Pipeline.Tests.Healing;

public sealed class ReplacementBackoffTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly HealingOptions Options = new() { Backoff = TimeSpan.FromSeconds(10), BackoffMax = TimeSpan.FromSeconds(60), MaxReplacements = 3, Window = TimeSpan.FromMinutes(10) };

    [Test]
    public void Should_Replace_At_Once_When_The_Release_Was_Never_Replaced()
    {
        ReplacementBackoff.Decide(null, "d1", Now, Options).Verdict.ShouldBe(BackoffVerdict.Replace);
    }

    [TestCase(1, 10)]
    [TestCase(2, 20)]
    [TestCase(3, 40)]
    [TestCase(4, 60)]
    [TestCase(40, 60)]
    public void Should_Double_The_Wait_After_Each_Replacement_Up_To_The_Maximum(int replacements, int seconds)
    {
        ReplacementBackoff.Delay(replacements, Options).ShouldBe(TimeSpan.FromSeconds(seconds));
    }

    [Test]
    public void Should_Wait_Until_The_Backoff_Has_Passed_Then_Replace()
    {
        // Given one replacement just now
        var history = ReplacementBackoff.After(null, "api-blue-000001", "d1", Now, Options);

        // Then the next waits 10 s, and may go after that
        var waiting = ReplacementBackoff.Decide(history, "d1", Now.AddSeconds(5), Options);
        waiting.Verdict.ShouldBe(BackoffVerdict.Wait);
        waiting.WaitUntil.ShouldBe(Now.AddSeconds(10));
        ReplacementBackoff.Decide(history, "d1", Now.AddSeconds(10), Options).Verdict.ShouldBe(BackoffVerdict.Replace);
    }

    [Test]
    public void Should_Call_The_Release_Broken_When_The_Window_Holds_The_Maximum_And_Forgive_It_When_The_Window_Moves_On()
    {
        // Given three replacements in a few minutes
        var history = ReplacementBackoff.After(null, "r", "d1", Now, Options);
        history = ReplacementBackoff.After(history, "r", "d1", Now.AddMinutes(1), Options);
        history = ReplacementBackoff.After(history, "r", "d1", Now.AddMinutes(2), Options);

        // Then the release is broken inside the window, and not once the oldest replacement left it
        var broken = ReplacementBackoff.Decide(history, "d1", Now.AddMinutes(3), Options);
        broken.Verdict.ShouldBe(BackoffVerdict.Broken);
        broken.Recent.Count.ShouldBe(3);
        ReplacementBackoff.Decide(history, "d1", Now.AddMinutes(10).AddSeconds(1), Options).Verdict.ShouldBe(BackoffVerdict.Replace);
    }

    [Test]
    public void Should_Not_Count_The_Replacements_Of_Another_Release()
    {
        // Given a release replaced three times, then a deploy of a new one
        var history = ReplacementBackoff.After(null, "r", "old", Now, Options);
        history = ReplacementBackoff.After(history, "r", "old", Now, Options);
        history = ReplacementBackoff.After(history, "r", "old", Now, Options);

        // Then the new release starts with a clean slate
        ReplacementBackoff.Decide(history, "new", Now, Options).Verdict.ShouldBe(BackoffVerdict.Replace);
        ReplacementBackoff.After(history, "r2", "new", Now, Options).Attempts.Count.ShouldBe(1);
    }

    [TestCase(0, "--heal-interval=0: must be 1 to 3600 seconds between passes; e.g. --heal-interval=10")]
    public void Should_Name_A_Bad_Interval_And_The_Fix(int seconds, string problem)
    {
        new HealingOptions { Interval = TimeSpan.FromSeconds(seconds) }.Problems().ShouldBe([problem]);
    }

    [Test]
    public void Should_Name_Each_Bad_Healing_Option()
    {
        var problems = new HealingOptions { FailureThreshold = 0, Backoff = TimeSpan.FromSeconds(30), BackoffMax = TimeSpan.FromSeconds(10), MaxReplacements = 0, Window = TimeSpan.Zero }.Problems();

        problems.ShouldBe([
            "--heal-failures=0: must be 1 to 100 consecutive failed health checks before an instance is replaced; e.g. --heal-failures=3",
            "--heal-backoff-max=10: must be at least --heal-backoff (30) and at most a day; e.g. --heal-backoff-max=300",
            "--heal-max-replacements=0: must be 1 to 1000 replacements per window; e.g. --heal-max-replacements=3",
            "--heal-window=0: must be 1 second to 7 days; e.g. --heal-window=600",
        ]);
        new HealingOptions().Problems().ShouldBeEmpty();
    }
}
