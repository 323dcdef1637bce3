using System.Text.Json.Serialization;
using Pipeline.Migrations;

namespace Pipeline.Journal;

/// <summary>
/// One compensation, recorded before the change it undoes: a kind and its arguments as data, so a later
/// process (after a crash) can run it. <see cref="Description"/> is what the rollback reports having done.
/// </summary>
public sealed record UndoStep(string Kind, IReadOnlyDictionary<string, string?> Arguments, string Description)
{
    /// <summary>
    /// The deploy that recorded the step (the journal stamps it). An undo acts only on a resource whose
    /// <see cref="Labels.DeployId"/> label names this deploy.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DeployId { get; init; }

    /// <summary>Remove a container the run created (on the production engine): a release, the proxy it started, or the network's probe it started.</summary>
    public static UndoStep RemoveContainer(string name) =>
        new(UndoKinds.RemoveContainer, new Dictionary<string, string?> { ["name"] = name }, $"removed container {name}");

    /// <summary>Put a registry key back to its value before the run (null: delete it).</summary>
    public static UndoStep RestoreKey(string key, string? previous) =>
        new(UndoKinds.RestoreKey, new Dictionary<string, string?> { ["key"] = key, ["value"] = previous },
            previous is null ? $"deleted registry key {key}" : $"restored registry key {key}");

    /// <summary>
    /// Put the proxy back. <paramref name="previousConfig"/> is the config that was live before the switch and
    /// <paramref name="appliedConfig"/> the one the switch applies. The undo renders the config again from the registry
    /// (whose keys the newer undo steps have put back), so routes other services switched in the meantime stay; only when
    /// the proxy still runs exactly <paramref name="appliedConfig"/> (nobody changed it since) and this run's template
    /// cannot render <paramref name="previousConfig"/> again is that config restored verbatim, after the same checks as a
    /// rendered one.
    /// </summary>
    public static UndoStep RestoreProxy(string previousConfig, string? appliedConfig) =>
        new(UndoKinds.RestoreProxy,
            new Dictionary<string, string?> { ["config"] = previousConfig, ["applied"] = appliedConfig },
            "restored the proxy config from the registry");

    /// <summary>Remove a volume created for the new release.</summary>
    public static UndoStep RemoveVolume(string name) =>
        new(UndoKinds.RemoveVolume, new Dictionary<string, string?> { ["name"] = name }, $"removed volume {name}");

    /// <summary>Remove a network the run created (kept while other containers use it).</summary>
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

    /// <summary>
    /// Remove one replica container Heal or Scale started for a release (labelled <see cref="Labels.HealedBy"/> with the
    /// run's id): the run's new replica goes again when the run fails.
    /// </summary>
    public static UndoStep RemoveReplica(Runtime.ReleaseId release, string name) =>
        new(UndoKinds.RemoveReplica,
            new Dictionary<string, string?> { ["service"] = release.Service, ["color"] = release.Color, ["deployId"] = release.DeployId, ["name"] = name },
            $"removed replica {name}");

    /// <summary>
    /// Stop a migration runner: end its server sessions (an unfinished migration's transaction rolls back instead of
    /// running on after the pipeline died), then remove its container.
    /// </summary>
    public static UndoStep StopMigrationRunner(string name) =>
        new(UndoKinds.StopMigrationRunner, new Dictionary<string, string?> { ["name"] = name },
            $"stopped migration runner {name} (an unfinished migration's transaction is rolled back)");

    /// <summary>Revert an expand migration this deploy applied, with its down script (text kept in the step), and delete its row.</summary>
    public static UndoStep RevertMigration(Migration migration, string deployId) =>
        new(UndoKinds.RevertMigration, MigrationUndo.Arguments(migration, deployId),
            $"reverted expand migration {migration.Id} with {migration.Down!.FileName}");

    /// <summary>
    /// Nothing to do: an expand migration without a down script stays applied (the static gate made it one the old
    /// release works with); the step only says so in the rollback's report.
    /// </summary>
    public static UndoStep KeepMigration(Migration migration) =>
        new(UndoKinds.KeepMigration, new Dictionary<string, string?> { ["number"] = migration.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), ["name"] = migration.Name },
            $"kept expand migration {migration.Id} (no down script; it only adds)");

    /// <summary>
    /// Nothing can be done: a contract migration is a point of no return. Recorded while it runs, so a run that dies
    /// then leaves a plain message for the recovery.
    /// </summary>
    public static UndoStep ContractMigration(Migration migration, string version) =>
        new(UndoKinds.ContractMigration, new Dictionary<string, string?> { ["number"] = migration.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), ["name"] = migration.Name, ["version"] = version },
            $"could not undo contract migration {migration.Id}: if pipeline_migrations records it, it is a point of no return — the schema cannot go back and releases before {version} may not run on it; "
            + "to bring back what it removed, write a new expand migration and deploy it (if it is not recorded, its transaction was rolled back and the next deploy runs it again)");

    /// <summary>An argument that must be present.</summary>
    public string Required(string name) =>
        Arguments.TryGetValue(name, out var value) && value is not null
            ? value
            : throw new UndoRefusedException($"it lacks its '{name}' argument");
}

/// <summary>The kinds of <see cref="UndoStep"/>; <see cref="UndoActions"/> says how each is checked and run.</summary>
public static class UndoKinds
{
    /// <summary>Arguments: name.</summary>
    public const string RemoveContainer = "remove-container";
    /// <summary>Arguments: key, value (null: delete).</summary>
    public const string RestoreKey = "restore-key";
    /// <summary>Arguments: config (the one before the switch), applied (the one the switch applied; may be absent).</summary>
    public const string RestoreProxy = "restore-proxy";
    /// <summary>Arguments: name.</summary>
    public const string RemoveVolume = "remove-volume";
    /// <summary>Arguments: name.</summary>
    public const string RemoveNetwork = "remove-network";
    /// <summary>Arguments: service, color, deployId.</summary>
    public const string RemoveRelease = "remove-release";
    /// <summary>Arguments: service, color, deployId, replicas.</summary>
    public const string RestoreReplicas = "restore-replicas";
    /// <summary>Arguments: service, color, deployId (the release's), name (the replica container).</summary>
    public const string RemoveReplica = "remove-replica";
    /// <summary>Arguments: name (the runner container, also its sessions' application_name).</summary>
    public const string StopMigrationRunner = "stop-migration-runner";
    /// <summary>Arguments: number, name, file, checksum, deployId, downFile, down (the down script's SQL).</summary>
    public const string RevertMigration = "revert-migration";
    /// <summary>Arguments: number, name. Undo does nothing (the migration stays).</summary>
    public const string KeepMigration = "keep-migration";
    /// <summary>Arguments: number, name, version. Undo does nothing (a point of no return).</summary>
    public const string ContractMigration = "contract-migration";
}
