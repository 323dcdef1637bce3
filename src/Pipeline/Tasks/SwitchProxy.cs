using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Journal;

namespace Pipeline.Tasks;

/// <summary>
/// Makes the new colour live: under the proxy's lock (one service at a time changes the shared proxy), sets the
/// service's colour in the registry, renders the proxy config from every service's live release, checks it with
/// the proxy's validator, applies it through the production engine, then polls through the proxy until the
/// answers come from the new colour.
/// </summary>
[TaskName("SwitchProxy")]
[TaskDescription("Sets the live colour, renders the proxy config from the registry, validates, applies and confirms it through the proxy.")]
[IsDependentOn(typeof(PreIntegrationTests))]
public sealed class SwitchProxy : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var stageStarted = context.Time.GetTimestamp();
        var proxySwitch = context.ProxySwitch;
        var proxy = proxySwitch.Proxy;
        await using var proxyLock = await proxySwitch.AcquireLockAsync(ct);
        if (await proxy.FindContainerAsync(ct) is null)
        {
            await context.Journal.RecordAsync(UndoStep.RemoveContainer(context.Options.ProxyContainer), ct);
        }

        await proxy.EnsureRunningAsync(ct);
        var previousConfig = await proxy.ReadLiveConfigAsync(ct);
        if (previousConfig is not null)
        {
            var rendersTheSame = previousConfig == await proxySwitch.RenderFromRegistryAsync(ct);
            await context.Journal.RecordAsync(UndoStep.RestoreProxy(previousConfig, rerender: rendersTheSame), ct);
        }

        var colorKey = context.Catalog.ColorKey(context.Service);
        await context.Journal.RecordAsync(UndoStep.RestoreKey(colorKey, context.State.PreviousColor), ct);
        await context.ServiceRegistry.PutAsync(colorKey, context.State.NewColor!, null, ct);

        var switchStarted = context.Time.GetTimestamp();
        await proxySwitch.ApplyIfDifferentAsync(await proxySwitch.RenderFromRegistryAsync(ct), ct);
        await SwitchConfirmation.WaitForColorAsync(context, context.State.NewColor!, ct);
        context.State.SwitchLatency = context.Time.GetElapsedTime(stageStarted);
        context.Log.Information($"{proxy.Kind} at {proxy.PublicUrl} answers from {context.State.NewColor} ({context.Time.GetElapsedTime(switchStarted).TotalMilliseconds:0} ms after apply).");
    }
}
