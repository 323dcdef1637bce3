using System.Diagnostics.CodeAnalysis;

namespace Pipeline.Registry;

/// <summary>A service registry Pipeline can use: <see cref="Etcd"/> (the default) or <see cref="Consul"/>. Its <see cref="Name"/> is what <c>--registry</c> takes.</summary>
public sealed class RegistryKind
{
    private RegistryKind(string name) => Name = name;

    /// <summary>etcd v3, over its JSON gateway (<see cref="EtcdRegistry"/>).</summary>
    public static RegistryKind Etcd { get; } = new("etcd");

    /// <summary>Consul's KV store and sessions, over its HTTP API (<see cref="ConsulRegistry"/>).</summary>
    public static RegistryKind Consul { get; } = new("consul");

    /// <summary>The kind used when none is chosen: <see cref="Etcd"/>.</summary>
    public static RegistryKind Default => Etcd;

    /// <summary>Every supported kind.</summary>
    public static IReadOnlyList<RegistryKind> All { get; } = [Etcd, Consul];

    /// <summary><c>etcd</c> or <c>consul</c>.</summary>
    public string Name { get; }

    /// <summary>The kind named <paramref name="name"/> exactly (<c>etcd</c> or <c>consul</c>).</summary>
    public static bool TryParse(string? name, [NotNullWhen(true)] out RegistryKind? kind)
    {
        kind = All.FirstOrDefault(k => k.Name == name);
        return kind is not null;
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
