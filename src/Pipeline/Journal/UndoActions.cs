using System.Text.Json;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;

namespace Pipeline.Journal;

/// <summary>What running one undo step did: <see cref="Report"/> is the line the rollback reports.</summary>
/// <param name="Report">"removed container x", or "kept network y: in use by …".</param>
public sealed record UndoOutcome(string Report);

/// <summary>
/// How one kind of <see cref="UndoStep"/> is checked and run. The journal is data anyone with write access to the
/// registry could have written, so an action first checks that the step only touches what Pipeline created for the
/// service (labels on the live object, keys inside the service's prefix, a proxy config checked like a rendered one)
/// and throws <see cref="UndoRefusedException"/> otherwise; it throws <see cref="UndoBlockedException"/> when acting now
/// would take live traffic down. Each check sits with its action, one class per kind, listed in <see cref="UndoActions"/>.
/// </summary>
public abstract class UndoAction
{
    /// <summary>The <see cref="UndoStep.Kind"/> this action runs.</summary>
    public abstract string Kind { get; }

    /// <summary>
    /// True when the steps recorded before it depend on it having run (a registry key or proxy config the older
    /// removals rely on being put back first): when it fails or is refused, the unwind stops there.
    /// </summary>
    public virtual bool OlderStepsDependOnIt => false;

    /// <summary>Checks the step against what it would touch, then runs it. Idempotent: what is already undone counts as done.</summary>
    public abstract Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct);

    /// <summary>What stays in place while the step has not run, for messages ("container hello-green-1").</summary>
    public abstract string StillInPlace(UndoStep step);
}

/// <summary>The step must never run: it names something Pipeline did not create for the service, or is malformed. It stays in the journal for a person.</summary>
public sealed class UndoRefusedException(string reason) : Exception(reason);

/// <summary>The step cannot run now without taking live traffic down (e.g. the proxy still routes to the release it would remove): the unwind stops.</summary>
public sealed class UndoBlockedException(string reason) : Exception(reason);

/// <summary>The actions Pipeline knows, one per undo kind. A new kind is one more <see cref="UndoAction"/> added here.</summary>
public static class UndoActions
{
    /// <summary>Every built-in action, by kind.</summary>
    public static IReadOnlyDictionary<string, UndoAction> Default { get; } = new UndoAction[]
    {
        new RemoveContainerAction(),
        new RemoveVolumeAction(),
        new RemoveNetworkAction(),
        new RestoreKeyAction(),
        new RestoreProxyAction(),
        new RemoveReleaseAction(),
        new RestoreReplicasAction(),
        new RemoveReplicaAction(),
    }.ToDictionary(a => a.Kind, StringComparer.Ordinal);

    /// <summary>The built-in actions plus <paramref name="more"/> (which replace a built-in one of the same kind).</summary>
    public static IReadOnlyDictionary<string, UndoAction> With(params UndoAction[] more)
    {
        var all = new Dictionary<string, UndoAction>(Default, StringComparer.Ordinal);
        foreach (var action in more)
        {
            all[action.Kind] = action;
        }

        return all;
    }
}

/// <summary>
/// <c>remove-container {name}</c>: a release of the service created by the step's deploy, the proxy container that deploy
/// started, or the release network's long-lived probe it started. A release is never removed while the proxy's live config
/// (or the registry) still routes to it; the proxy is kept while it serves other services. A deploy that was asking
/// through the probe meanwhile starts a probe of its own.
/// </summary>
internal sealed class RemoveContainerAction : UndoAction
{
    public override string Kind => UndoKinds.RemoveContainer;

    public override string StillInPlace(UndoStep step) => $"container {step.Arguments.GetValueOrDefault("name")}";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var name = step.Required("name");
        if (await scope.Production.InspectContainerAsync(name, ct) is not { } container)
        {
            return new UndoOutcome(step.Description);
        }

        if (container.Labels.GetValueOrDefault(Labels.Role) == Roles.Probe && container.Labels.ContainsKey(Labels.Network))
        {
            scope.RequireCreatedBy(step, $"container {name}", container.Labels, ofThisService: false, Roles.Probe);
        }
        else if (container.Labels.GetValueOrDefault(Labels.Role) == Roles.Proxy)
        {
            scope.RequireCreatedBy(step, $"container {name}", container.Labels, ofThisService: false, Roles.Proxy);
            var others = await scope.OtherRoutedServicesAsync(ct);
            if (others.Count > 0)
            {
                return new UndoOutcome($"kept the proxy container {name}: it serves {string.Join(", ", others)}");
            }
        }
        else
        {
            scope.RequireCreatedBy(step, $"container {name}", container.Labels, ofThisService: true, Roles.Release);
            if (await scope.StillRoutedAsync(container, ct) is { } routed)
            {
                throw new UndoBlockedException($"container {name} was not removed: {routed}; removing it would take that traffic down");
            }
        }

        await scope.Production.RemoveContainerAsync(container.Id, ct);
        return new UndoOutcome(step.Description);
    }
}

/// <summary><c>remove-volume {name}</c>: a volume labelled as a release volume of the service from the step's deploy.</summary>
internal sealed class RemoveVolumeAction : UndoAction
{
    public override string Kind => UndoKinds.RemoveVolume;

    public override string StillInPlace(UndoStep step) => $"volume {step.Arguments.GetValueOrDefault("name")}";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var name = step.Required("name");
        var volume = (await scope.Production.ListVolumesAsync(new Dictionary<string, string>(), ct)).FirstOrDefault(v => v.Name == name);
        if (volume is null)
        {
            return new UndoOutcome(step.Description);
        }

        scope.RequireCreatedBy(step, $"volume {name}", volume.Labels, ofThisService: true, Roles.Release);
        await scope.Production.RemoveVolumeAsync(name, ct);
        return new UndoOutcome(step.Description);
    }
}

/// <summary>
/// <c>remove-network {name}</c>: the pipeline network the step's deploy created. Shared: kept while any container uses it
/// (that is a finished step, not a failure).
/// </summary>
internal sealed class RemoveNetworkAction : UndoAction
{
    public override string Kind => UndoKinds.RemoveNetwork;

    public override string StillInPlace(UndoStep step) => $"network {step.Arguments.GetValueOrDefault("name")}";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var name = step.Required("name");
        if (step.DeployId is { } deployId)
        {
            // A run killed between claiming the network's name and creating it left the claim.
            await scope.Production.RemoveNetworkClaimAsync(name, deployId, ct);
        }

        var network = (await scope.Production.ListNetworksAsync(new Dictionary<string, string>(), ct)).FirstOrDefault(n => n.Name == name);
        if (network is null)
        {
            return new UndoOutcome(step.Description);
        }

        scope.RequireCreatedBy(step, $"network {name}", network.Labels, ofThisService: false, Roles.Network, Roles.Proxy);
        var users = (await scope.Production.ListContainersAsync(new Dictionary<string, string>(), ct))
            .Where(c => c.NetworkAddresses.ContainsKey(name))
            .Select(c => c.Name)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (users.Count > 0)
        {
            return Kept(name, string.Join(", ", users));
        }

        try
        {
            await scope.Production.RemoveNetworkAsync(name, ct);
        }
        catch (DockerEngineException e) when (e.StatusCode == 403 || e.Message.Contains("active endpoints", StringComparison.Ordinal))
        {
            // Joined between the look and the removal: still shared.
            return Kept(name, "containers that joined it meanwhile");
        }

        return new UndoOutcome(step.Description);
    }

    private static UndoOutcome Kept(string name, string users) => new($"kept network {name}: in use by {users}");
}

/// <summary>
/// <c>restore-key {key, value}</c>: only a key inside the service's own prefix; a colour must be a colour, a release must
/// be a release of that service and colour whose route the proxy could carry. Older steps depend on it (the proxy is
/// rendered from these keys; a release is removed only once nothing routes to it).
/// </summary>
internal sealed class RestoreKeyAction : UndoAction
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public override string Kind => UndoKinds.RestoreKey;

    public override bool OlderStepsDependOnIt => true;

    public override string StillInPlace(UndoStep step) => $"registry key {step.Arguments.GetValueOrDefault("key")} (not restored)";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var key = step.Required("key");
        if (!key.StartsWith(scope.ServiceKeyPrefix, StringComparison.Ordinal) || key.Length == scope.ServiceKeyPrefix.Length)
        {
            throw new UndoRefusedException($"registry key {key} is outside {scope.Service}'s own keys ({scope.ServiceKeyPrefix}…)");
        }

        var value = step.Arguments.GetValueOrDefault("value");
        if (value is not null)
        {
            CheckValue(scope, key, value);
            await scope.Registry.PutAsync(key, value, null, ct);
        }
        else
        {
            await scope.Registry.DeleteAsync(key, ct);
        }

        return new UndoOutcome(step.Description);
    }

    private static void CheckValue(RollbackScope scope, string key, string value)
    {
        if (key == scope.Catalog.ColorKey(scope.Service))
        {
            if (value is not (Colors.Blue or Colors.Green))
            {
                throw new UndoRefusedException($"'{value}' is not a colour ({Colors.Blue} or {Colors.Green}) to put back into {key}");
            }

            return;
        }

        var color = key[scope.ServiceKeyPrefix.Length..] switch
        {
            $"releases/{Colors.Blue}" => Colors.Blue,
            $"releases/{Colors.Green}" => Colors.Green,
            _ => null,
        };
        if (color is null)
        {
            return;
        }

        ReleaseRecord? release;
        try
        {
            release = JsonSerializer.Deserialize<ReleaseRecord>(value, Json);
        }
        catch (JsonException e)
        {
            throw new UndoRefusedException($"the value to put back into {key} is not a release ({e.Message})");
        }

        if (release is null || release.Service != scope.Service || release.Color != color)
        {
            throw new UndoRefusedException($"the value to put back into {key} is not a release of {scope.Service} ({color})");
        }

        try
        {
            ProxyRouteValidation.Validate([new ProxyRoute(release.Service, release.Route, release.HostName, release.Color, release.Version, [new UpstreamEndpoint(release.Address, release.Port)])]);
        }
        catch (ArgumentException e)
        {
            throw new UndoRefusedException($"the release to put back into {key} has a route the proxy must not carry: {e.Message}");
        }
    }
}

/// <summary>
/// <c>restore-proxy {config, applied}</c>: see <see cref="ProxySwitch.RestoreAsync"/>. A verbatim config is checked like a
/// rendered one. Older steps depend on it: a release is removed only once the proxy no longer routes to it.
/// </summary>
internal sealed class RestoreProxyAction : UndoAction
{
    public override string Kind => UndoKinds.RestoreProxy;

    public override bool OlderStepsDependOnIt => true;

    public override string StillInPlace(UndoStep step) => "the proxy config of the switch (not restored)";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct) =>
        new(await scope.Proxy.RestoreAsync(step.Required("config"), step.Arguments.GetValueOrDefault("applied"), scope.CheckVerbatimProxyConfigAsync, ct));
}

/// <summary>
/// <c>remove-release {service, color, deployId}</c>: a release the step's deploy started, through the release runtime
/// (containers or swarm service, its volumes and probes, all found by the release's labels). Only a release of the
/// service created by the step's own deploy; never while the proxy's live config (or the registry) still routes to it.
/// </summary>
internal sealed class RemoveReleaseAction : UndoAction
{
    public override string Kind => UndoKinds.RemoveRelease;

    public override string StillInPlace(UndoStep step) =>
        $"release {step.Arguments.GetValueOrDefault("service")}-{step.Arguments.GetValueOrDefault("color")} of deploy {step.Arguments.GetValueOrDefault("deployId")}";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var release = ReleaseSteps.ReleaseOf(step, scope);
        if (step.DeployId is null || release.DeployId != step.DeployId)
        {
            throw new UndoRefusedException($"release {release.Name} is not one deploy {step.DeployId ?? "(none named)"} started, so this step may not remove it");
        }

        var runtime = scope.RequireReleases(step);
        var addresses = await runtime.AddressesAsync(release, 0, ct);
        if (await scope.StillRoutedAsync(release, addresses?.Endpoints.Select(e => e.Address).ToList() ?? [], ct) is { } routed)
        {
            throw new UndoBlockedException($"release {release.Name} was not removed: {routed}; removing it would take that traffic down");
        }

        // Nothing routes to it any more, but it may still be answering requests the proxy sent it before the restore.
        var drained = "";
        try
        {
            var drain = await ProxyDrain.WaitAsync(scope.Proxy.Proxy, release.Service, release.Color, scope.DrainTimeout, scope.Time, ct);
            drained = drain switch
            {
                { Drained: true, Waited.TotalMilliseconds: >= 100 } => $" (after {drain.Waited.TotalSeconds:0.0} s, when the proxy had no request in flight to it any more)",
                { Drained: true } => "",
                _ => $" (the proxy still had {drain.InFlight} request(s) in flight to it when the drain timeout of {scope.DrainTimeout.TotalSeconds:0.#} s passed)",
            };
        }
        catch (Exception e) when (e is ProxyException or DockerEngineException)
        {
            // No proxy to ask (it was removed by an earlier step, or is gone): nothing is sent through it.
        }

        await runtime.RemoveAsync(release, TimeSpan.Zero, ct);
        return new UndoOutcome(step.Description + drained);
    }
}

/// <summary>
/// <c>restore-replicas {service, color, deployId, replicas}</c>: scales a release of the service back to the replicas it
/// ran before the step's deploy changed them, through the release runtime.
/// </summary>
internal sealed class RestoreReplicasAction : UndoAction
{
    public override string Kind => UndoKinds.RestoreReplicas;

    public override string StillInPlace(UndoStep step) =>
        $"the replicas of {step.Arguments.GetValueOrDefault("service")}-{step.Arguments.GetValueOrDefault("color")} (not restored to {step.Arguments.GetValueOrDefault("replicas")})";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var release = ReleaseSteps.ReleaseOf(step, scope);
        if (!int.TryParse(step.Required("replicas"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var replicas)
            || replicas is < 1 or > Configuration.OptionResolver.MaxReplicas)
        {
            throw new UndoRefusedException($"'{step.Arguments["replicas"]}' is not a number of replicas (1 to {Configuration.OptionResolver.MaxReplicas}) to scale {release.Name} back to");
        }

        await scope.RequireReleases(step).ScaleAsync(release, replicas, ct);
        return new UndoOutcome(step.Description);
    }
}

/// <summary>
/// <c>remove-replica {service, color, deployId, name}</c>: one replica container a Heal or Scale run started for a release of
/// the service: its labels must name that release and carry <see cref="Labels.HealedBy"/> = the step's run. Never while the
/// proxy's live config (or the registry) still routes to it.
/// </summary>
internal sealed class RemoveReplicaAction : UndoAction
{
    public override string Kind => UndoKinds.RemoveReplica;

    public override string StillInPlace(UndoStep step) => $"replica {step.Arguments.GetValueOrDefault("name")}";

    public override async Task<UndoOutcome> RunAsync(UndoStep step, RollbackScope scope, CancellationToken ct)
    {
        var release = ReleaseSteps.ReleaseOf(step, scope);
        var name = step.Required("name");
        if (await scope.Production.InspectContainerAsync(name, ct) is not { } container)
        {
            return new UndoOutcome(step.Description);
        }

        var labels = container.Labels;
        if (step.DeployId is null
            || labels.GetValueOrDefault(Labels.HealedBy) != step.DeployId
            || labels.GetValueOrDefault(Labels.Role) != Roles.Release
            || labels.GetValueOrDefault(Labels.Service) != release.Service
            || labels.GetValueOrDefault(Labels.Color) != release.Color
            || labels.GetValueOrDefault(Labels.DeployId) != release.DeployId)
        {
            throw new UndoRefusedException(
                $"container {name} is not a replica of {release.Name} that run {step.DeployId ?? "(none named)"} started: its labels say {Labels.HealedBy}={labels.GetValueOrDefault(Labels.HealedBy) ?? "(none)"}, {Labels.Role}={labels.GetValueOrDefault(Labels.Role) ?? "(none)"}, {Labels.Service}={labels.GetValueOrDefault(Labels.Service) ?? "(none)"}, {Labels.Color}={labels.GetValueOrDefault(Labels.Color) ?? "(none)"}, {Labels.DeployId}={labels.GetValueOrDefault(Labels.DeployId) ?? "(none)"}");
        }

        if (await StillRoutedAsync(scope, release, container, ct) is { } routed)
        {
            throw new UndoBlockedException($"replica {name} was not removed: {routed}; removing it would take that traffic down");
        }

        await scope.Production.RemoveContainerAsync(container.Id, ct);
        return new UndoOutcome(step.Description);
    }

    /// <summary>
    /// Like <see cref="RollbackScope.StillRoutedAsync(ContainerInfo, CancellationToken)"/>, except that an address the
    /// registry gives to another instance of the release (the dead one this copy replaced, whose address the engine
    /// handed on to the copy) does not count: the proxy sends that traffic to the dead instance's registration.
    /// </summary>
    private static async Task<string?> StillRoutedAsync(RollbackScope scope, Runtime.ReleaseId release, ContainerInfo container, CancellationToken ct)
    {
        var live = await scope.Catalog.ReadLiveReleasesAsync(ct: ct);
        var record = live.Releases.FirstOrDefault(r => r.Service == release.Service && r.Color == release.Color && r.DeployId == release.DeployId);
        if (record is not null && record.AllEndpoints.Any(e => e.InstanceId == container.Id))
        {
            return $"the registry lists it as an endpoint of the live release of {release.Service} ({release.Color})";
        }

        var othersAddresses = record?.AllEndpoints.Where(e => e.InstanceId is not null && e.InstanceId != container.Id).Select(e => e.Address).ToHashSet(StringComparer.Ordinal) ?? [];
        var addresses = container.NetworkAddresses.Values.Where(a => !othersAddresses.Contains(a)).ToList();
        return addresses.Count > 0 && await scope.Proxy.Proxy.ReadLiveConfigAsync(ct) is { } config && ProxyConfigAddresses.RoutesTo(config, addresses)
            ? $"the proxy's live config still routes to it ({string.Join(", ", addresses)})"
            : null;
    }
}

/// <summary>What the release steps share: the release a step names, checked to be one of the unwound service's.</summary>
internal static class ReleaseSteps
{
    public static Runtime.ReleaseId ReleaseOf(UndoStep step, RollbackScope scope)
    {
        var service = step.Required("service");
        var color = step.Required("color");
        if (service != scope.Service)
        {
            throw new UndoRefusedException($"it names a release of {service}, not of {scope.Service}, whose journal this is");
        }

        if (color is not (Colors.Blue or Colors.Green))
        {
            throw new UndoRefusedException($"'{color}' is not a colour ({Colors.Blue} or {Colors.Green})");
        }

        return new Runtime.ReleaseId(service, color, step.Required("deployId"));
    }
}
