using Microsoft.Extensions.Time.Testing;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Healing;

namespace Pipeline.Tests.Healing;

public sealed class NodeCordonTests
{
    private static readonly HealingOptions Options = new() { NodeFailures = 3, NodeWindow = TimeSpan.FromMinutes(5), NodeUndrainAfter = TimeSpan.FromMinutes(2) };

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));

    private static SwarmNodeInfo Node(string id, SwarmNodeRole role = SwarmNodeRole.Worker, SwarmNodeAvailability availability = SwarmNodeAvailability.Active, SwarmNodeStatus status = SwarmNodeStatus.Ready) =>
        new(id, $"host-{id}", role, availability, status, null, role == SwarmNodeRole.Manager, new Dictionary<string, string>());

    private static readonly IReadOnlyList<SwarmNodeInfo> ThreeNodes = [Node("m", SwarmNodeRole.Manager), Node("w1"), Node("w2")];

    /// <summary>One health failure on <paramref name="node"/> per call, each a pass later on the fake clock.</summary>
    private NodeRecord? Fail(NodeRecord? record, SwarmNodeInfo node, int times, TimeSpan apart)
    {
        for (var i = 0; i < times; i++)
        {
            record = NodeCordon.Record(record, node, [new NodeFailure(_time.GetUtcNow(), "api-blue-000001.1.t1", "health: HTTP 500")], _time.GetUtcNow(), Options);
            _time.Advance(apart);
        }

        return record;
    }

    private IReadOnlyList<NodeDecision> Decide(IReadOnlyList<SwarmNodeInfo> nodes, params NodeRecord[] records) =>
        NodeCordon.Decide(nodes, records.ToDictionary(r => r.NodeId), _time.GetUtcNow(), Options);

    [Test]
    public void Should_Not_Drain_A_Node_Below_The_Number_Of_Failures_In_The_Window()
    {
        // Given two failures on w1 (the threshold is three)
        var record = Fail(null, ThreeNodes[1], 2, TimeSpan.FromSeconds(10))!;

        // Then nothing is decided
        Decide(ThreeNodes, record).ShouldBeEmpty();
    }

    [Test]
    public void Should_Drain_A_Node_Once_Its_Failures_In_The_Window_Reach_The_Threshold()
    {
        // Given three failures on w1 within the window
        var record = Fail(null, ThreeNodes[1], 3, TimeSpan.FromSeconds(10))!;

        // Then w1 is drained, and the reason names the count and the option
        var decision = Decide(ThreeNodes, record).ShouldHaveSingleItem();
        (decision.NodeId, decision.Verdict).ShouldBe(("w1", NodeVerdict.Drain));
        decision.Reason.ShouldStartWith("3 failure(s) of the service's tasks on node host-w1 within --heal-node-window=300 s (--heal-node-failures=3; last: health: HTTP 500)");
    }

    [Test]
    public void Should_Not_Count_Failures_That_Fell_Out_Of_The_Window()
    {
        // Given three failures on w1, three minutes apart (the window is five)
        var record = Fail(null, ThreeNodes[1], 3, TimeSpan.FromMinutes(3))!;

        // Then only the recent ones are kept and w1 is not drained
        record.Failures.Count.ShouldBeLessThan(3);
        Decide(ThreeNodes, record).ShouldBeEmpty();
    }

    [Test]
    public void Should_Count_A_Failed_Task_Once_However_Many_Passes_See_It()
    {
        // Given a task Swarm lists as failed on w1, seen by five passes
        NodeRecord? record = null;
        var failedAt = _time.GetUtcNow();
        for (var i = 0; i < 5; i++)
        {
            record = NodeCordon.Record(record, ThreeNodes[1], [new NodeFailure(failedAt, "api-blue-000001.2.t9", "failed: task: non-zero exit (3)")], _time.GetUtcNow(), Options);
            _time.Advance(TimeSpan.FromSeconds(10));
        }

        // Then it is one failure
        record!.Failures.Count.ShouldBe(1);
        Decide(ThreeNodes, record).ShouldBeEmpty();
    }

    [Test]
    public void Should_Keep_The_Last_Active_Node()
    {
        // Given a swarm where only w1 is ready and active (the manager is drained, w2 is down)
        var nodes = new[] { Node("m", SwarmNodeRole.Manager, SwarmNodeAvailability.Drain), Node("w1"), Node("w2", status: SwarmNodeStatus.Down) };
        var record = Fail(null, nodes[1], 3, TimeSpan.FromSeconds(10))!;

        // Then it is kept, and the reason says why
        var decision = Decide(nodes, record).ShouldHaveSingleItem();
        decision.Verdict.ShouldBe(NodeVerdict.Keep);
        decision.Reason.ShouldEndWith("but it is not drained: it is the last ready, active node");
    }

    [Test]
    public void Should_Keep_The_Only_Manager()
    {
        // Given failures on the swarm's only manager
        var record = Fail(null, ThreeNodes[0], 3, TimeSpan.FromSeconds(10))!;

        // Then it is kept
        var decision = Decide(ThreeNodes, record).ShouldHaveSingleItem();
        decision.Verdict.ShouldBe(NodeVerdict.Keep);
        decision.Reason.ShouldEndWith("it is the swarm's only manager");
    }

    [Test]
    public void Should_Drain_A_Manager_When_Another_Manager_Is_Ready()
    {
        // Given two managers, failures on the first
        var nodes = new[] { Node("m", SwarmNodeRole.Manager), Node("m2", SwarmNodeRole.Manager), Node("w1") };
        var record = Fail(null, nodes[0], 3, TimeSpan.FromSeconds(10))!;

        // Then it is drained
        Decide(nodes, record).ShouldHaveSingleItem().Verdict.ShouldBe(NodeVerdict.Drain);
    }

    [Test]
    public void Should_Not_Drain_Any_Node_When_The_Tasks_Fail_On_Every_Active_Node()
    {
        // Given failures on every node (a broken release, not a broken node)
        var records = ThreeNodes.Select(n => Fail(null, n, 3, TimeSpan.FromSeconds(1))!).ToArray();

        // Then none is drained: each is kept with the reason
        var decisions = Decide(ThreeNodes, records);
        decisions.ShouldAllBe(d => d.Verdict == NodeVerdict.Keep);
        decisions.ShouldContain(d => d.Reason.EndsWith("the service's tasks fail on every other active node too (the release fails, not the node)", StringComparison.Ordinal));
    }

    [Test]
    public void Should_Not_Drain_When_Turned_Off()
    {
        var record = Fail(null, ThreeNodes[1], 10, TimeSpan.FromSeconds(1))!;
        NodeCordon.Decide(ThreeNodes, new Dictionary<string, NodeRecord> { ["w1"] = record }, _time.GetUtcNow(), Options with { NodeFailures = 0 }).ShouldBeEmpty();
    }

    [Test]
    public void Should_Set_A_Node_It_Drained_Active_Only_After_It_Was_Quiet_For_The_Undrain_Time()
    {
        // Given w1 drained by Heal just now
        var drainedAt = _time.GetUtcNow();
        var record = Fail(null, ThreeNodes[1], 3, TimeSpan.Zero)! with { DrainedAt = drainedAt, DrainedBecause = "3 failures" };
        IReadOnlyList<SwarmNodeInfo> nodes = [ThreeNodes[0], Node("w1", availability: SwarmNodeAvailability.Drain), ThreeNodes[2]];

        // When a minute passes (the undrain time is two): it stays drained, and is not drained "again"
        _time.Advance(TimeSpan.FromMinutes(1));
        Decide(nodes, record).ShouldBeEmpty();

        // When two minutes have passed since the drain with no failure
        _time.Advance(TimeSpan.FromMinutes(1));

        // Then it is set active again
        var decision = Decide(nodes, record).ShouldHaveSingleItem();
        (decision.NodeId, decision.Verdict).ShouldBe(("w1", NodeVerdict.Activate));
        decision.Reason.ShouldContain("has been ready with no failure for 120 s (--heal-node-undrain-after=120)");
    }

    [Test]
    public void Should_Restart_The_Quiet_Time_At_A_Failure_Seen_After_The_Drain()
    {
        // Given w1 drained, and a failure seen there a minute later (e.g. a task Swarm lists as failed)
        var record = Fail(null, ThreeNodes[1], 3, TimeSpan.Zero)! with { DrainedAt = _time.GetUtcNow() };
        _time.Advance(TimeSpan.FromMinutes(1));
        record = Fail(record, ThreeNodes[1], 1, TimeSpan.Zero)!;
        IReadOnlyList<SwarmNodeInfo> nodes = [ThreeNodes[0], Node("w1", availability: SwarmNodeAvailability.Drain), ThreeNodes[2]];

        // Then two minutes after the drain it stays drained; two minutes after that failure it is set active
        _time.Advance(TimeSpan.FromMinutes(1));
        Decide(nodes, record).ShouldBeEmpty();
        _time.Advance(TimeSpan.FromMinutes(1));
        Decide(nodes, record).ShouldHaveSingleItem().Verdict.ShouldBe(NodeVerdict.Activate);
    }

    [Test]
    public void Should_Keep_A_Drained_Node_That_Is_Down()
    {
        var record = new NodeRecord("w1", "host-w1", [], null, _time.GetUtcNow(), "3 failures");
        _time.Advance(TimeSpan.FromHours(1));
        Decide([ThreeNodes[0], Node("w1", availability: SwarmNodeAvailability.Drain, status: SwarmNodeStatus.Down), ThreeNodes[2]], record).ShouldBeEmpty();
    }

    [Test]
    public void Should_Never_Set_Active_A_Node_It_Did_Not_Drain()
    {
        // Given w1 drained by someone else (no record of a drain by Heal), with old failures recorded
        var record = Fail(null, ThreeNodes[1], 1, TimeSpan.Zero)!;
        _time.Advance(TimeSpan.FromHours(1));

        // Then nothing is decided about it
        Decide([ThreeNodes[0], Node("w1", availability: SwarmNodeAvailability.Drain), ThreeNodes[2]], record).ShouldBeEmpty();
    }

    [Test]
    public void Should_Forget_Its_Drain_When_Someone_Else_Set_The_Node_Active()
    {
        var record = new NodeRecord("w1", "host-w1", [], null, _time.GetUtcNow(), "3 failures");
        var decision = Decide(ThreeNodes, record).ShouldHaveSingleItem();
        (decision.Verdict, decision.Reason).ShouldBe((NodeVerdict.Forget, "node host-w1 is active again, set so by someone else"));
    }

    [Test]
    public void Should_Not_Count_Again_What_Led_To_The_Drain_After_Setting_The_Node_Active()
    {
        // Given w1 set active again after a drain, and Swarm still listing the failed task that was seen before
        var failedAt = _time.GetUtcNow();
        var record = new NodeRecord("w1", "host-w1", [new NodeFailure(failedAt, "t.1.x", "failed: exit 3")], failedAt, failedAt, "x");
        _time.Advance(TimeSpan.FromMinutes(2));
        var activated = record.Activated(_time.GetUtcNow());

        // When a pass sees that old failure again
        var next = NodeCordon.Record(activated, ThreeNodes[1], [new NodeFailure(failedAt, "t.1.x", "failed: exit 3")], _time.GetUtcNow(), Options);

        // Then it does not count
        next.Failures.ShouldBeEmpty();
        next.IsEmpty(_time.GetUtcNow(), Options).ShouldBeFalse("the activation is kept for a window");
        next.IsEmpty(_time.GetUtcNow() + Options.NodeWindow, Options).ShouldBeTrue();
    }

    [TestCase("--heal-node-failures=-1", "--heal-node-failures=-1: must be 0 (never drain a node) to 1000 failures of the service's tasks on one node; e.g. --heal-node-failures=5")]
    [TestCase("--heal-node-window=0", "--heal-node-window=0: must be 1 second to 7 days; e.g. --heal-node-window=600")]
    [TestCase("--heal-node-undrain-after=0", "--heal-node-undrain-after=0: must be 1 second to 7 days of a drained node being ready with no failure; e.g. --heal-node-undrain-after=600")]
    public void Should_Refuse_A_Bad_Node_Option_Naming_The_Value_And_The_Fix(string argument, string problem)
    {
        // Given a service folder and one bad node option on the command line
        var serviceDir = Path.Combine(Path.GetTempPath(), "pipeline-cordon-" + Guid.NewGuid().ToString("N")[..8], "api");
        Directory.CreateDirectory(serviceDir);
        File.WriteAllText(Path.Combine(serviceDir, "Dockerfile"), "FROM busybox\n");
        File.WriteAllText(Path.Combine(serviceDir, "Dockerfile.tests"), "FROM busybox\n");
        try
        {
            var (name, value) = (argument[2..argument.IndexOf('=', StringComparison.Ordinal)], argument[(argument.IndexOf('=', StringComparison.Ordinal) + 1)..]);

            // When the options are resolved
            var error = Should.Throw<InvalidOptionsException>(() => OptionResolver.Resolve(
                new DeploymentOptions { ServiceDirectory = serviceDir, Version = "1.0.0" }, n => n == name ? value : null, _ => null, "/"));

            // Then that is the one problem, naming the value and the fix
            error.Problems.ShouldBe([problem]);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(serviceDir)!, recursive: true);
        }
    }

    [Test]
    public void Should_Have_Documented_Defaults()
    {
        var defaults = new HealingOptions();
        (defaults.NodeFailures, defaults.NodeWindow, defaults.NodeUndrainAfter).ShouldBe((5, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10)));
        defaults.Problems().ShouldBeEmpty();
    }
}
