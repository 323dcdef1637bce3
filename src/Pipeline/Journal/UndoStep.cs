namespace Pipeline.Journal;

/// <summary>
/// One compensation, recorded before the change it undoes: a kind and its arguments as data, so a later
/// process (after a crash) can run it. <see cref="Description"/> is what the rollback reports having done.
/// </summary>
public sealed record UndoStep(string Kind, IReadOnlyDictionary<string, string?> Arguments, string Description)
{
    /// <summary>Remove a container the run created (on the production engine).</summary>
    public static UndoStep RemoveContainer(string name) =>
        new(UndoKinds.RemoveContainer, new Dictionary<string, string?> { ["name"] = name }, $"removed container {name}");

    /// <summary>Put a registry key back to its value before the run (null: delete it).</summary>
    public static UndoStep RestoreKey(string key, string? previous) =>
        new(UndoKinds.RestoreKey, new Dictionary<string, string?> { ["key"] = key, ["value"] = previous },
            previous is null ? $"deleted registry key {key}" : $"restored registry key {key}");

    /// <summary>
    /// Render the proxy config again from the registry (whose keys earlier undo steps have put back) and apply it
    /// when it differs from the live one: every other service's routes stay as they are now.
    /// </summary>
    public static UndoStep RestoreProxy() =>
        new(UndoKinds.RestoreProxy, new Dictionary<string, string?>(), "restored the proxy config from the registry");

    /// <summary>Remove a volume created for the new release.</summary>
    public static UndoStep RemoveVolume(string name) =>
        new(UndoKinds.RemoveVolume, new Dictionary<string, string?> { ["name"] = name }, $"removed volume {name}");

    /// <summary>Remove a network the run created.</summary>
    public static UndoStep RemoveNetwork(string name) =>
        new(UndoKinds.RemoveNetwork, new Dictionary<string, string?> { ["name"] = name }, $"removed network {name}");

    /// <summary>An argument that must be present.</summary>
    public string Required(string name) =>
        Arguments.TryGetValue(name, out var value) && value is not null
            ? value
            : throw new InvalidOperationException($"Journal step {Kind} lacks its '{name}' argument.");
}

/// <summary>The kinds of <see cref="UndoStep"/>.</summary>
public static class UndoKinds
{
    /// <summary>Arguments: name.</summary>
    public const string RemoveContainer = "remove-container";
    /// <summary>Arguments: key, value (null: delete).</summary>
    public const string RestoreKey = "restore-key";
    /// <summary>No arguments: the config is rendered from the registry.</summary>
    public const string RestoreProxy = "restore-proxy";
    /// <summary>Arguments: name.</summary>
    public const string RemoveVolume = "remove-volume";
    /// <summary>Arguments: name.</summary>
    public const string RemoveNetwork = "remove-network";
}
