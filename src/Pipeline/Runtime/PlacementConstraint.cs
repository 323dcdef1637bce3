using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Runtime;

/// <summary>
/// A Swarm placement constraint (<c>attribute==value</c> or <c>attribute!=value</c>), evaluated against the nodes before
/// a deploy so one no node satisfies fails at once, naming it. Only what the node list tells can be evaluated:
/// <c>node.id</c>, <c>node.hostname</c>, <c>node.role</c> and <c>node.labels.KEY</c>; Swarm itself judges the others.
/// </summary>
/// <param name="Attribute">The node attribute, e.g. <c>node.hostname</c>.</param>
/// <param name="Equal">True for <c>==</c>, false for <c>!=</c>.</param>
/// <param name="Value">The value compared with.</param>
public sealed partial record PlacementConstraint(string Attribute, bool Equal, string Value)
{
    /// <summary>True when the node list says whether a node meets it.</summary>
    public bool CanEvaluate => Attribute is "node.id" or "node.hostname" or "node.role" || Attribute.StartsWith("node.labels.", StringComparison.Ordinal);

    /// <summary>Parses <c>attribute==value</c> or <c>attribute!=value</c> (spaces around the operator allowed).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out PlacementConstraint? constraint)
    {
        var match = Pattern().Match(text ?? "");
        constraint = match.Success ? new PlacementConstraint(match.Groups[1].Value, match.Groups[2].Value == "==", match.Groups[3].Value.Trim()) : null;
        return constraint is not null;
    }

    /// <summary>True when <paramref name="node"/> satisfies the constraint (only for <see cref="CanEvaluate"/>).</summary>
    public bool IsMetBy(SwarmNodeInfo node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var actual = Attribute switch
        {
            "node.id" => node.Id,
            "node.hostname" => node.HostName,
            "node.role" => node.Role.ToString().ToLowerInvariant(),
            _ when Attribute.StartsWith("node.labels.", StringComparison.Ordinal) => node.Labels.GetValueOrDefault(Attribute["node.labels.".Length..]),
            _ => null,
        };
        var same = string.Equals(actual, Value, Attribute is "node.hostname" or "node.role" ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
        return Equal ? same : !same;
    }

    [GeneratedRegex(@"^\s*([A-Za-z0-9_.\-]+)\s*(==|!=)\s*(\S.*)$")]
    private static partial Regex Pattern();
}
