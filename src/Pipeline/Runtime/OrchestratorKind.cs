using System.Diagnostics.CodeAnalysis;

namespace Pipeline.Runtime;

/// <summary>
/// How releases run on the production engine: <see cref="Containers"/> on one engine, or <see cref="Swarm"/> services;
/// <see cref="Auto"/> picks Swarm when the production engine says (in <c>/info</c>) it is an active swarm manager.
/// Its <see cref="Name"/> is what <c>--orchestrator</c> takes.
/// </summary>
public sealed class OrchestratorKind
{
    private OrchestratorKind(string name) => Name = name;

    /// <summary>Swarm when the production engine is an active swarm manager, containers otherwise (a swarm worker is refused).</summary>
    public static OrchestratorKind Auto { get; } = new("auto");

    /// <summary>Containers on one engine: one container per replica on a bridge network.</summary>
    public static OrchestratorKind Containers { get; } = new("containers");

    /// <summary>Docker Swarm services through a manager: replicas spread over nodes on an attachable overlay network.</summary>
    public static OrchestratorKind Swarm { get; } = new("swarm");

    /// <summary>The kind used when none is chosen: <see cref="Auto"/>.</summary>
    public static OrchestratorKind Default => Auto;

    /// <summary>Every kind <c>--orchestrator</c> takes.</summary>
    public static IReadOnlyList<OrchestratorKind> All { get; } = [Auto, Containers, Swarm];

    /// <summary><c>auto</c>, <c>containers</c> or <c>swarm</c>.</summary>
    public string Name { get; }

    /// <summary>The kind named <paramref name="name"/> exactly.</summary>
    public static bool TryParse(string? name, [NotNullWhen(true)] out OrchestratorKind? kind)
    {
        kind = All.FirstOrDefault(k => k.Name == name);
        return kind is not null;
    }

    /// <summary>The kind named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No kind has that name; the message names it and the supported ones.</exception>
    public static OrchestratorKind Parse(string? name) => TryParse(name, out var kind)
        ? kind
        : throw new ArgumentException($"Orchestrator '{name}' is not supported; use one of: {string.Join(", ", All)}.", nameof(name));

    /// <inheritdoc />
    public override string ToString() => Name;
}
