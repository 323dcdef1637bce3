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
    /// Put the proxy back. When the config that was live equals what this run's template renders from the registry
    /// as it was (<paramref name="rerender"/>), the undo renders again from the registry (whose keys earlier undo
    /// steps have put back), so routes other services switched in the meantime stay; otherwise (a new template, a
    /// hand-edited proxy) it applies <paramref name="previousConfig"/> exactly.
    /// </summary>
    public static UndoStep RestoreProxy(string previousConfig, bool rerender) =>
        new(UndoKinds.RestoreProxy,
            new Dictionary<string, string?> { ["config"] = previousConfig, ["rerender"] = rerender ? "true" : "false" },
            rerender ? "restored the proxy config from the registry" : "restored the previous proxy config");

    /// <summary>Remove a volume created for the new release.</summary>
    public static UndoStep RemoveVolume(string name) =>
        new(UndoKinds.RemoveVolume, new Dictionary<string, string?> { ["name"] = name }, $"removed volume {name}");

    /// <summary>Remove a network the run created.</summary>
    public static UndoStep RemoveNetwork(string name) =>
        new(UndoKinds.RemoveNetwork, new Dictionary<string, string?> { ["name"] = name }, $"removed network {name}");

    /// <summary>
    /// Remove a release the run started, through the release runtime: everything labelled with its service, colour and
    /// deploy id (containers or swarm service, volumes, probes), so it also covers what a start left halfway.
    /// </summary>
    public static UndoStep RemoveRelease(string service, string color, string deployId) =>
        new(UndoKinds.RemoveRelease,
            new Dictionary<string, string?> { ["service"] = service, ["color"] = color, ["deployId"] = deployId },
            $"removed release {new Runtime.ReleaseId(service, color, deployId).Name}");

    /// <summary>Scale a release back to the replicas it ran before the run changed them, through the release runtime.</summary>
    public static UndoStep RestoreReplicas(string service, string color, string deployId, int replicas) =>
        new(UndoKinds.RestoreReplicas,
            new Dictionary<string, string?>
            {
                ["service"] = service,
                ["color"] = color,
                ["deployId"] = deployId,
                ["replicas"] = replicas.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            $"restored {new Runtime.ReleaseId(service, color, deployId).Name} to {replicas} replica(s)");

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
    /// <summary>Arguments: config (the previous one), rerender (true: render from the registry instead).</summary>
    public const string RestoreProxy = "restore-proxy";
    /// <summary>Arguments: name.</summary>
    public const string RemoveVolume = "remove-volume";
    /// <summary>Arguments: name.</summary>
    public const string RemoveNetwork = "remove-network";
    /// <summary>Arguments: service, color, deployId.</summary>
    public const string RemoveRelease = "remove-release";
    /// <summary>Arguments: service, color, deployId, replicas.</summary>
    public const string RestoreReplicas = "restore-replicas";
}
