using System.Globalization;
using Cake.Core.Diagnostics;
using Pipeline.Configuration;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Runtime;

namespace Pipeline.Tasks;

/// <summary>
/// Starts the colour that is not live through the release runtime (containers on the production engine, or a swarm
/// service), from the registry image, on the release network, labelled; waits until every replica answers its health
/// path, asked from the production side (the network's long-lived probe, started beside the release when none runs).
/// Meanwhile the sessions to the proxy are opened (<see cref="SwitchProxy.OpenSessionsAsync"/>), so the switch after
/// the pre-integration tests is only the change.
/// </summary>
[TaskName("DeployRelease")]
[TaskDescription("Starts the next colour from the registry image through the release runtime and waits until every replica is healthy.")]
[IsDependentOn(typeof(LiveReleaseTests))]
public sealed class DeployRelease : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        context.State.ProxyPrepared = SwitchProxy.OpenSessionsAsync(context.Proxy, ct);

        // The pushes may still run beside the stages before: production changes only once they succeeded.
        await PushImage.AwaitAsync(context);
        var runtime = context.Runtime;
        var options = context.Options;
        context.State.PreviousColor = await context.Catalog.GetLiveColorAsync(context.Service, ct);
        var color = context.State.NewColor = Colors.Next(context.State.PreviousColor);
        context.Log.Information($"{context.Service}: live colour is {context.State.PreviousColor ?? "none"}; deploying {context.Version} as {color}. {context.Replicas} replica(s), {runtime.Kind} on {runtime.Engine.Endpoint}.");

        if (!await runtime.NetworkExistsAsync(ct))
        {
            await context.Journal.RecordAsync(UndoStep.RemoveNetwork(runtime.Network), ct);
            await runtime.EnsureNetworkAsync(new Dictionary<string, string> { [Labels.Role] = Roles.Network, [Labels.DeployId] = context.DeployId }, ct);
        }

        // Containers on the engine that built the image run it as it is (no pull); a swarm's nodes pull it by digest.
        var imageIsLocal = runtime.Kind == OrchestratorKind.Containers && PushImage.SameEngine(context)
            && await runtime.Engine.ImageExistsAsync(context.State.Image!.ToString(), ct);

        var spec = new ReleaseSpec
        {
            Id = new ReleaseId(context.Service, color, context.DeployId),
            Version = context.Version,
            Image = context.State.Image!.ToString(),
            ImageDigest = context.State.ImageDigest,
            ImageIsLocal = imageIsLocal,
            Labels = context.LabelsFor(Roles.Release, color),
            Port = context.ServicePort,
            HealthPath = options.HealthPath,
            Volumes = options.Volumes,
            Replicas = context.Replicas,
            Credentials = context.RegistryCredentials,
            Environment = new Dictionary<string, string>(options.ReleaseEnvironment)
            {
                ["SERVICE_NAME"] = context.Service,
                ["SERVICE_VERSION"] = context.Version,
                ["SERVICE_COLOR"] = color,
                ["SERVICE_ROUTE"] = options.Route,
                ["PORT"] = context.ServicePort.ToString(CultureInfo.InvariantCulture),
            },
        };

        if (await runtime.ProbeToStartAsync(ct) is { } probe)
        {
            await context.Journal.RecordAsync(UndoStep.RemoveContainer(probe), ct);
            spec = spec with { Probe = probe };
        }

        await context.Journal.RecordAsync(UndoStep.RemoveRelease(spec.Id.Service, spec.Id.Color, spec.Id.DeployId), ct);
        var name = await runtime.StartAsync(spec, new LogProgress(context.Log, "  [pull] "), ct);
        var healthy = context.State.NewAddresses = await runtime.WaitHealthyAsync(spec, options.HealthTimeout, ct);
        context.Log.Information($"{name} is healthy at {string.Join(", ", healthy.Endpoints)}.");
    }
}
