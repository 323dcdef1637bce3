using System.Text;
using System.Text.Json;
using Pipeline.IntegrationTests.BadInput;
using Pipeline.IntegrationTests.Recovery;
using Pipeline.Notifications;
using Pipeline.Testing;

namespace Pipeline.IntegrationTests.Notifications;

/// <summary>
/// Deploy notifications against a real HTTP receiver on loopback: what each event says, retries that honour
/// Retry-After, a receiver that never answers (the deploy goes on), and each event delivered once across a SIGKILL.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class NotificationTests
{
    private const string HookSecret = "hook-s3cret-never-logged";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);
    private PipelineHarness _harness = null!;
    private WebhookReceiver _receiver = null!;

    [SetUp]
    public void Start()
    {
        _harness = new PipelineHarness("haproxy");
        _receiver = new WebhookReceiver();
    }

    [TearDown]
    public void Stop()
    {
        _receiver.Dispose();
        _harness.Dispose();
    }

    [Test]
    public async Task Should_Post_Started_Then_Succeeded_Once_Each_Saying_What_Happened()
    {
        // Given a service and a webhook whose URL holds credentials
        var service = TestEnvironment.UniqueName("notify");
        var dir = _harness.CreateService(service);
        var url = _receiver.Url(userInfo: $"ci:{HookSecret}");

        // When it is deployed
        var run = CapturedPipeline.Run(_harness.OptionsFor(dir, "1.0.0") with { Notify = [new Uri(url)] });

        // Then the webhook got started and succeeded, once each, in that order, as JSON with the credentials as Basic auth
        run.ExitCode.ShouldBe(0, run.All);
        var received = _receiver.Received;
        received.Select(r => r.Event).ShouldBe([NotificationEvents.Started, NotificationEvents.Succeeded], run.All);
        received.ShouldAllBe(r => r.Accepted && r.Method == "POST" && r.Path == "/hooks/deploys");
        received.ShouldAllBe(r => r.Authorization == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"ci:{HookSecret}")));
        received.ShouldAllBe(r => r.ContentType!.StartsWith("application/json", StringComparison.Ordinal));
        received.ShouldAllBe(r => r.IdempotencyKey == r.Id);
        received.ShouldAllBe(r => r.ContentLength == Encoding.UTF8.GetByteCount(r.Body), "sent with a Content-Length, not chunked");
        var succeeded = received[1].Json;
        var deployId = succeeded.GetProperty("deployId").GetString()!;
        received[0].Id.ShouldBe($"{deployId}/deploy.started");
        succeeded.GetProperty("service").GetString().ShouldBe(service);
        succeeded.GetProperty("version").GetString().ShouldBe("1.0.0");
        succeeded.GetProperty("color").GetString().ShouldBe("blue");
        succeeded.GetProperty("previousColor").ValueKind.ShouldBe(JsonValueKind.Null);
        succeeded.GetProperty("liveColor").GetString().ShouldBe("blue");
        succeeded.GetProperty("outcome").GetString().ShouldBe("succeeded");
        succeeded.GetProperty("durationSeconds").GetDouble().ShouldBeGreaterThan(0);
        succeeded.GetProperty("text").GetString()!.ShouldStartWith($"{service} 1.0.0 is live as blue (was none), deployed in ");
        succeeded.GetProperty("retryCommand").GetString()!.ShouldContain("--target=Deploy --release-version=1.0.0");

        // And the log names the webhook without its credentials, and nothing is left in the outbox or the run keys
        run.All.ShouldContain($"notify: deploy.succeeded delivered to http://***@127.0.0.1:{_receiver.Port}/… (HTTP 200).");
        run.All.ShouldNotContain(HookSecret);
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/outbox/")).ShouldBeEmpty();
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/runs/")).ShouldBeEmpty();
    }

    [Test]
    public void Should_Post_The_Failure_With_The_Rollback_And_The_Retry_Command_After_Honouring_Retry_After()
    {
        // Given a service live in blue, a next version whose post-integration tests fail, and a webhook that asks to
        // retry its first request after 1 s
        var service = TestEnvironment.UniqueName("notifail");
        var dir = _harness.CreateService(service);
        PipelineHarness.Run(_harness.OptionsFor(dir, "1.0.0")).ShouldBe(0);
        var failing = _harness.CreateService(service + "-next", TestType.PostIntegration.ToContractName());
        _receiver.AnswerWith(n => n == 0 ? (503, "1") : (200, null));

        // When it is deployed
        var run = CapturedPipeline.Run(_harness.OptionsFor(failing, "2.0.0", service: service) with { Notify = [new Uri(_receiver.Url())] });

        // Then the deploy failed and rolled back; the webhook got started (on the second attempt, at least 1 s later) and failed
        run.ExitCode.ShouldNotBe(0);
        var received = _receiver.Received;
        received.Select(r => (r.Event, r.Answered)).ShouldBe(
            [(NotificationEvents.Started, 503), (NotificationEvents.Started, 200), (NotificationEvents.Failed, 200)], run.All);
        (received[1].At - received[0].At).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9));
        run.All.ShouldContain($"notify: deploy.started to http://127.0.0.1:{_receiver.Port}/…: HTTP 503 Service Unavailable; attempt 2 of 5 in 1 s (Retry-After).");
        var failed = received[2].Json;
        failed.GetProperty("stage").GetString().ShouldBe("PostIntegrationTests");
        failed.GetProperty("outcome").GetString().ShouldBe("rolled-back");
        failed.GetProperty("color").GetString().ShouldBe("green");
        failed.GetProperty("previousColor").GetString().ShouldBe("blue");
        failed.GetProperty("liveColor").GetString().ShouldBe("blue");
        failed.GetProperty("cause").GetString()!.ShouldContain("exited with 7");
        failed.GetProperty("rollback").GetString()!.ShouldContain($"removed release {service}-green-");
        failed.GetProperty("retryCommand").GetString()!.ShouldContain("--target=Deploy --release-version=2.0.0");
        failed.GetProperty("text").GetString()!.ShouldStartWith(
            $"{service} 2.0.0 failed in PostIntegrationTests and was rolled back; blue is live. Post-integration tests for {service} 2.0.0 (green) exited with 7. Retry: `");
    }

    [Test]
    public async Task Should_Not_Hold_Up_Or_Fail_The_Deploy_When_The_Webhook_Never_Answers_And_Deliver_Later()
    {
        // Given a webhook that never answers
        var service = TestEnvironment.UniqueName("notihang");
        var dir = _harness.CreateService(service);
        _receiver.AnswerWith(_ => (0, null));
        var options = _harness.OptionsFor(dir, "1.0.0") with { Notify = [new Uri(_receiver.Url())], NotifyTimeout = TimeSpan.FromSeconds(2) };

        // When a deploy runs
        var first = CapturedPipeline.Run(options);

        // Then it succeeded, said the notifications wait in the outbox, and they do
        first.ExitCode.ShouldBe(0, first.All);
        first.All.ShouldContain("notification(s) not delivered within 2 s; they stay in the outbox and the next run of the service delivers them.");
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/outbox/{service}/")).Count.ShouldBe(2);

        // When the webhook answers again and the next deploy runs
        _receiver.AnswerWith(_ => (200, null));
        var second = CapturedPipeline.Run(options with { Version = "2.0.0" });

        // Then the first deploy's two events were delivered once each, before the second deploy's own
        second.ExitCode.ShouldBe(0, second.All);
        var accepted = _receiver.Accepted;
        accepted.Select(r => r.Json.GetProperty("version").GetString() + " " + r.Event).ShouldBe(
            ["1.0.0 deploy.started", "1.0.0 deploy.succeeded", "2.0.0 deploy.started", "2.0.0 deploy.succeeded"], second.All);
        accepted.Select(r => r.Id).ShouldBeUnique();
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/outbox/")).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Deliver_Each_Event_Once_When_The_Pipeline_Is_Killed_And_The_Next_Run_Resumes()
    {
        // Given a webhook that answers 503 (retry after 1 s) to everything, and a deploy SIGKILLed while it retries
        var service = TestEnvironment.UniqueName("notikill");
        var dir = _harness.CreateService(service);
        _receiver.AnswerWith(_ => (503, "1"));
        var arguments = PipelineProcess.IsolatedArguments(_harness, dir).Append($"--notify={_receiver.Url()}").ToList();
        using (var killed = PipelineProcess.Start("Deploy", "1.0.0", arguments))
        {
            await _receiver.WaitForAsync(r => r.Count(x => x.Event == NotificationEvents.Started) >= 2, RunTimeout, "two attempts of deploy.started");
            await killed.KillAsync();
        }

        var deployId = _receiver.Received[0].Json.GetProperty("deployId").GetString();
        _receiver.Accepted.ShouldBeEmpty();

        // When the webhook accepts again and --target=Rollback runs, then runs again
        _receiver.AnswerWith(_ => (200, null));
        using (var rollback = PipelineProcess.Start("Rollback", "1.0.0", arguments))
        {
            (await rollback.WaitForExitAsync(RunTimeout)).ShouldBe(0, rollback.Output);
            rollback.Output.ShouldContain($"notify: resuming delivery of deploy.started of deploy {deployId} (a run that died)");
        }

        using (var again = PipelineProcess.Start("Rollback", "1.0.0", arguments))
        {
            (await again.WaitForExitAsync(RunTimeout)).ShouldBe(0, again.Output);
        }

        // Then the dead deploy's started event was accepted exactly once, and the outbox is empty
        _receiver.Accepted.Where(r => r.Json.GetProperty("deployId").GetString() == deployId).Select(r => r.Event)
            .ShouldBe([NotificationEvents.Started]);
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/outbox/")).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Not_Deliver_Again_What_Was_Delivered_Before_The_Kill()
    {
        // Given a deploy SIGKILLed during its pre-deployment tests, after its started event was accepted
        var service = TestEnvironment.UniqueName("notidone");
        var dir = _harness.CreateService(service);
        var arguments = PipelineProcess.IsolatedArguments(_harness, dir).Append($"--notify={_receiver.Url()}").ToList();
        using (var killed = PipelineProcess.Start("Deploy", "1.0.0", arguments))
        {
            await _receiver.WaitForAsync(r => r.Any(x => x.Accepted), RunTimeout, "deploy.started accepted");
            await killed.WaitForLineAsync("deploy.started delivered", RunTimeout);
            await killed.KillAsync();
        }

        // When the next deploy runs
        using (var next = PipelineProcess.Start("Deploy", "2.0.0", arguments))
        {
            (await next.WaitForExitAsync(RunTimeout)).ShouldBe(0, next.Output);
        }

        // Then each event of each deploy was accepted once: the killed one's started, and the next one's two
        _receiver.Accepted.Select(r => r.Json.GetProperty("version").GetString() + " " + r.Event)
            .ShouldBe(["1.0.0 deploy.started", "2.0.0 deploy.started", "2.0.0 deploy.succeeded"]);
        (await _harness.Registry.GetPrefixAsync($"{_harness.KeyPrefix}/outbox/")).ShouldBeEmpty();
    }
}
