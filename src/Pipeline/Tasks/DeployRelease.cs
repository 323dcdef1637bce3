using Cake.Core.Diagnostics;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Journal;

namespace Pipeline.Tasks;

/// <summary>
/// Starts the colour that is not live on the production engine, from the registry image (pulled there), on
/// the pipeline network with its own address, labelled; waits until its health path answers.
/// </summary>
[TaskName("DeployRelease")]
[TaskDescription("Starts the next colour from the registry image on the production engine and waits until it is healthy.")]
[IsDependentOn(typeof(AcquireLock))]
public sealed class DeployRelease : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var engine = context.ProductionEngine;
        var options = context.Options;
        context.State.PreviousColor = await context.Catalog.GetLiveColorAsync(context.Service, ct);
        var color = context.State.NewColor = Colors.Next(context.State.PreviousColor);
        context.Log.Information($"{context.Service}: live colour is {context.State.PreviousColor ?? "none"}; deploying {context.Version} as {color}.");

        if ((await engine.ListNetworksAsync(new Dictionary<string, string>(), ct)).All(n => n.Name != options.Network))
        {
            await context.Journal.RecordAsync(UndoStep.RemoveNetwork(options.Network), ct);
            await engine.EnsureNetworkAsync(options.Network, new Dictionary<string, string> { [Labels.Role] = Roles.Network }, ct);
        }

        if (!PushImage.SameEngine(context) || !await engine.ImageExistsAsync(context.State.Image!.ToString(), ct))
        {
            // Another engine runs what the registry has: the image must be pushed before it is pulled.
            await PushImage.AwaitAsync(context);
            await engine.PullImageAsync(context.State.Image!, context.RegistryCredentials, new LogProgress(context.Log, "  [pull] "), ct);
        }

        var name = $"{context.Service}-{color}-{context.DeployId[^6..]}";
        var volumes = new Dictionary<string, string>();
        foreach (var volume in options.Volumes)
        {
            var volumeName = $"{name}-{volume.Name}";
            await context.Journal.RecordAsync(UndoStep.RemoveVolume(volumeName), ct);
            await engine.CreateVolumeAsync(volumeName, context.LabelsFor(Roles.Release, color), ct);
            volumes[volumeName] = volume.Path;
        }

        await context.Journal.RecordAsync(UndoStep.RemoveContainer(name), ct);
        var id = await engine.CreateContainerAsync(
            new ContainerSpec
            {
                Name = name,
                Image = context.State.Image!.ToString(),
                Network = options.Network,
                Labels = context.LabelsFor(Roles.Release, color),
                RestartPolicy = "unless-stopped",
                Volumes = volumes,
                Environment = new Dictionary<string, string>
                {
                    ["SERVICE_NAME"] = context.Service,
                    ["SERVICE_VERSION"] = context.Version,
                    ["SERVICE_COLOR"] = color,
                    ["SERVICE_ROUTE"] = options.Route,
                    ["PORT"] = options.ServicePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                },
            },
            ct);
        await engine.StartContainerAsync(id, ct);
        var container = await engine.InspectContainerAsync(id, ct)
            ?? throw new DockerEngineException($"Container {name} vanished right after it started.");
        context.State.NewContainer = container;

        await HealthCheck.WaitUntilHealthyAsync(context, container, ct);
        context.Log.Information($"{name} is healthy at {ReleaseAddress.Of(container, options.Network)}:{options.ServicePort}.");
    }
}
