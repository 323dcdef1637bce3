using System.Globalization;
using Pipeline.Docker;

namespace Pipeline.Healing;

/// <summary>One failure of a task of the service on a node: a failed health check, or a task Swarm saw fail there.</summary>
/// <param name="At">When Heal saw it.</param>
/// <param name="Task">The task (<c>{service}.{slot}.{task id}</c>).</param>
/// <param name="What">What failed, e.g. <c>health: HTTP 500</c> or <c>failed: task: non-zero exit (3)</c>.</param>
public sealed record NodeFailure(DateTimeOffset At, string Task, string What);

/// <summary>
/// What Heal remembers about one node for one service (<c>{prefix}/health/{service}/nodes/{node id}</c>): the recent
/// failures of the service's tasks there and, when this service's Heal drained the node, since when and why. The record of
/// the drain is written before the node is drained, so only a node the pipeline drained is ever set active again by it.
/// </summary>
/// <param name="NodeId">The node's id.</param>
/// <param name="HostName">Its host name, for messages.</param>
/// <param name="Failures">Failures within <see cref="HealingOptions.NodeWindow"/>, oldest first.</param>
/// <param name="LastFailureAt">The latest failure seen on the node (kept after the window moved on), or null.</param>
/// <param name="DrainedAt">When Heal drained the node, or null when it did not (or set it active again).</param>
/// <param name="DrainedBecause">Why it drained it.</param>
/// <param name="CountsFrom">Failures seen before this time do not count (set when Heal sets the node active again, so what
/// led to the drain cannot drain it again), or null.</param>
public sealed record NodeRecord(
    string NodeId,
    string HostName,
    IReadOnlyList<NodeFailure> Failures,
    DateTimeOffset? LastFailureAt,
    DateTimeOffset? DrainedAt,
    string? DrainedBecause,
    DateTimeOffset? CountsFrom = null)
{
    /// <summary>True when the record holds nothing worth keeping at <paramref name="now"/>: no failure, not drained, no recent activation.</summary>
    public bool IsEmpty(DateTimeOffset now, HealingOptions options) =>
        Failures.Count == 0 && DrainedAt is null && (CountsFrom is null || CountsFrom <= now - (options ?? throw new ArgumentNullException(nameof(options))).NodeWindow);

    /// <summary>The record after Heal set the node active again at <paramref name="now"/>: nothing before counts any more.</summary>
    public NodeRecord Activated(DateTimeOffset now) => this with { Failures = [], DrainedAt = null, DrainedBecause = null, CountsFrom = now };
}

/// <summary>What Heal does about a node.</summary>
public enum NodeVerdict
{
    /// <summary>Drain it: its tasks keep failing while other nodes' do not.</summary>
    Drain,

    /// <summary>Set it active again: Heal drained it, and no failure was seen since for <see cref="HealingOptions.NodeUndrainAfter"/>.</summary>
    Activate,

    /// <summary>Forget that Heal drained it: someone else set it active (or removed it) since.</summary>
    Forget,

    /// <summary>It would be drained, but must not be (the last active node, the only manager, or every node fails); the reason says which.</summary>
    Keep,
}

/// <summary>A decision about one node, with the reason in words.</summary>
/// <param name="NodeId">The node's id.</param>
/// <param name="HostName">Its host name.</param>
/// <param name="Verdict">What to do.</param>
/// <param name="Reason">Why, naming the counts and options.</param>
public sealed record NodeDecision(string NodeId, string HostName, NodeVerdict Verdict, string Reason);

/// <summary>
/// Cordoning with hysteresis: a node is drained only after <see cref="HealingOptions.NodeFailures"/> failures of the
/// service's tasks on it within <see cref="HealingOptions.NodeWindow"/>, and set active again only when Heal drained it
/// and it has been ready with no failure for <see cref="HealingOptions.NodeUndrainAfter"/>. Never drained: the last
/// ready, active node; the only manager; a node while every ready, active node has failures too (then the release is
/// what fails, not the node). Pure: the caller reads the nodes and records and carries the decisions out.
/// </summary>
public static class NodeCordon
{
    /// <summary>The record after <paramref name="seen"/> failures at <paramref name="now"/>: a failure of a task already recorded with the same text is not counted twice; failures older than the window are dropped.</summary>
    public static NodeRecord Record(NodeRecord? record, SwarmNodeInfo node, IEnumerable<NodeFailure> seen, DateTimeOffset now, HealingOptions options)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(options);
        var failures = (record?.Failures ?? []).ToList();
        foreach (var failure in seen.Where(f => record?.CountsFrom is not { } from || f.At >= from))
        {
            // A failed task stays in Swarm's list for a while: it is one failure, however many passes see it.
            if (!failure.What.StartsWith("health", StringComparison.Ordinal) && failures.Any(f => f.Task == failure.Task && f.What == failure.What))
            {
                continue;
            }

            failures.Add(failure);
        }

        var last = failures.Count == 0 ? record?.LastFailureAt : failures.Max(f => f.At);
        if (record?.LastFailureAt is { } before && (last is null || before > last))
        {
            last = before;
        }

        return new NodeRecord(
            node.Id,
            node.HostName,
            failures.Where(f => f.At > now - options.NodeWindow).OrderBy(f => f.At).ToList(),
            last,
            record?.DrainedAt,
            record?.DrainedBecause,
            record?.CountsFrom);
    }

    /// <summary>What to do about each node that needs something done (the others are left out).</summary>
    public static IReadOnlyList<NodeDecision> Decide(IReadOnlyList<SwarmNodeInfo> nodes, IReadOnlyDictionary<string, NodeRecord> records, DateTimeOffset now, HealingOptions options)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(options);
        var decisions = new List<NodeDecision>();

        // Nodes Heal drained: set active again after a quiet spell, or forget them when someone else changed them.
        foreach (var record in records.Values.Where(r => r.DrainedAt is not null))
        {
            var node = nodes.FirstOrDefault(n => n.Id == record.NodeId);
            if (node is null || node.Availability != SwarmNodeAvailability.Drain)
            {
                decisions.Add(new NodeDecision(record.NodeId, record.HostName, NodeVerdict.Forget,
                    node is null ? $"node {record.HostName} left the swarm" : $"node {record.HostName} is {Lower(node.Availability)} again, set so by someone else"));
                continue;
            }

            var quietSince = record.LastFailureAt is { } last && last > record.DrainedAt!.Value ? last : record.DrainedAt!.Value;
            if (node.Status == SwarmNodeStatus.Ready && now - quietSince >= options.NodeUndrainAfter)
            {
                decisions.Add(new NodeDecision(node.Id, node.HostName, NodeVerdict.Activate,
                    $"node {node.HostName} was drained at {Time(record.DrainedAt!.Value)} UTC ({record.DrainedBecause}) and has been ready with no failure for {Seconds(now - quietSince)} s (--heal-node-undrain-after={Seconds(options.NodeUndrainAfter)})"));
            }
        }

        // Nodes whose tasks keep failing: drain, unless that would leave nothing (or the release is what fails).
        if (options.NodeFailures == 0)
        {
            return decisions;
        }

        var active = nodes.Where(n => n.IsReadyAndActive).ToList();
        int Recent(SwarmNodeInfo node) => records.TryGetValue(node.Id, out var r) ? r.Failures.Count(f => f.At > now - options.NodeWindow) : 0;
        var draining = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in active.OrderByDescending(Recent).ThenBy(n => n.HostName, StringComparer.Ordinal))
        {
            var failures = Recent(node);
            if (failures < options.NodeFailures)
            {
                continue;
            }

            var why = $"{failures} failure(s) of the service's tasks on node {node.HostName} within --heal-node-window={Seconds(options.NodeWindow)} s (--heal-node-failures={options.NodeFailures}; last: {records[node.Id].Failures[^1].What})";
            var others = active.Where(n => n.Id != node.Id && !draining.Contains(n.Id)).ToList();
            string? keep = null;
            if (others.Count == 0)
            {
                keep = "it is the last ready, active node";
            }
            else if (node.Role == SwarmNodeRole.Manager && nodes.Count(n => n.Role == SwarmNodeRole.Manager && n.Status == SwarmNodeStatus.Ready) <= 1)
            {
                keep = "it is the swarm's only manager";
            }
            else if (others.All(n => Recent(n) > 0))
            {
                keep = "the service's tasks fail on every other active node too (the release fails, not the node)";
            }

            if (keep is null)
            {
                draining.Add(node.Id);
            }

            decisions.Add(keep is null
                ? new NodeDecision(node.Id, node.HostName, NodeVerdict.Drain, why)
                : new NodeDecision(node.Id, node.HostName, NodeVerdict.Keep, $"{why}, but it is not drained: {keep}"));
        }

        return decisions;
    }

    private static string Lower(SwarmNodeAvailability availability) => availability.ToString().ToLowerInvariant();

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
