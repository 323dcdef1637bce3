using System.Diagnostics.CodeAnalysis;

namespace Pipeline.Proxy;

/// <summary>
/// A proxy Pipeline can drive: <see cref="Haproxy"/> (the default) or <see cref="Nginx"/>. Its <see cref="Name"/> is
/// what <c>--proxy</c> takes, the proxy container's label carries and messages show.
/// </summary>
public sealed class ProxyKind
{
    private ProxyKind(string name) => Name = name;

    /// <summary>nginx: config checked with <c>nginx -t</c>, activated with <c>nginx -s reload</c>.</summary>
    public static ProxyKind Nginx { get; } = new("nginx");

    /// <summary>HAProxy in master-worker mode: config checked with <c>haproxy -c</c>, activated by a seamless reload through the master socket.</summary>
    public static ProxyKind Haproxy { get; } = new("haproxy");

    /// <summary>The kind used when none is chosen: <see cref="Haproxy"/>, which switches without dropping requests.</summary>
    public static ProxyKind Default => Haproxy;

    /// <summary>Every supported kind.</summary>
    public static IReadOnlyList<ProxyKind> All { get; } = [Nginx, Haproxy];

    /// <summary><c>nginx</c> or <c>haproxy</c>.</summary>
    public string Name { get; }

    /// <summary>The kind named <paramref name="name"/> exactly (<c>nginx</c> or <c>haproxy</c>).</summary>
    public static bool TryParse(string? name, [NotNullWhen(true)] out ProxyKind? kind)
    {
        kind = All.FirstOrDefault(k => k.Name == name);
        return kind is not null;
    }

    /// <summary>The kind named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No kind has that name; the message names it and the supported ones.</exception>
    public static ProxyKind Parse(string? name) => TryParse(name, out var kind)
        ? kind
        : throw new ArgumentException($"Proxy kind '{name}' is not supported; use one of: {string.Join(", ", All)}.", nameof(name));

    /// <inheritdoc />
    public override string ToString() => Name;
}
