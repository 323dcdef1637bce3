using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Proxy;

namespace Pipeline.Tasks;

/// <summary>
/// Makes the new colour live: under the proxy's lock (one service at a time changes the shared proxy), sets the
/// service's colour in the registry, renders the proxy config from every service's live release (the old colour
/// beside the new one, disabled), and has the proxy run it: a colour switch is a runtime change (HAProxy's Runtime API,
/// nginx's Lua route table) followed by the file write, a new route a validated, seamless reload. It polls through the
/// proxy until the answers come from the new colour, while the file is written.
/// </summary>
[TaskName("SwitchProxy")]
[TaskDescription("Sets the live colour, renders the proxy config from the registry, switches the proxy (at runtime when only the colour changes) and confirms it through the proxy.")]
[IsDependentOn(typeof(PreIntegrationTests))]
public sealed class SwitchProxy : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var stageStarted = context.Time.GetTimestamp();
        var proxySwitch = context.ProxySwitch;
        var proxy = proxySwitch.Proxy;
        var lap = stageStarted;
        void Lap(string step)
        {
            var now = context.Time.GetTimestamp();
            context.State.SwitchSteps.Add((step, context.Time.GetElapsedTime(lap, now)));
            lap = now;
        }

        await using var proxyLock = await proxySwitch.AcquireLockAsync(ct);
        Lap("lock");

        // The registry read once, while the proxy is made ready: the config after the switch (this service's colour
        // given, the old one its standby), and the config the proxy runs now.
        var rendering = proxySwitch.RenderFromRegistryAsync(
            new Dictionary<string, string> { [context.Service] = context.State.NewColor! }, required: context.Service, ct);
        var reading = ReadyAndReadLiveConfigAsync(context, ct);
        await Task.WhenAll(rendering, (Task)reading);
        var (next, previousConfig) = (await rendering, await reading);
        Lap("read");

        var colorKey = context.Catalog.ColorKey(context.Service);
        var restoreKey = UndoStep.RestoreKey(colorKey, context.State.PreviousColor);
        await context.Journal.RecordAsync(
            previousConfig is null ? [restoreKey] : [UndoStep.RestoreProxy(previousConfig, appliedConfig: next), restoreKey], ct);
        Lap("journal");
        await context.ServiceRegistry.PutAsync(colorKey, context.State.NewColor!, null, ct);
        Lap("colour key");

        // The proxy answers from the new colour as soon as the runtime change is made (or the reloaded config serves);
        // confirm through the proxy from then on, while the file on disk is written.
        var switchStarted = context.Time.GetTimestamp();
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var applying = proxySwitch.ApplyAsync(
            next,
            change =>
            {
                if (change == ProxyChange.Runtime)
                {
                    CrashPoints.Reached(CrashPoints.ProxyRuntimeSwitched);
                }

                changed.TrySetResult();
            },
            ct);
        await Task.WhenAny(applying, changed.Task);
        if (applying.IsFaulted || applying.IsCanceled)
        {
            await applying;
        }

        Lap("change");
        await SwitchConfirmation.WaitForColorAsync(context, context.State.NewColor!, ct);
        Lap("confirm");
        context.State.SwitchLatency = context.Time.GetElapsedTime(stageStarted);
        var confirmed = context.Time.GetElapsedTime(switchStarted);
        var change = await applying;
        context.Log.Information(
            $"{proxy.Kind} at {proxy.PublicUrl} answers from {context.State.NewColor} ({confirmed.TotalMilliseconds:0} ms after the change; " +
            $"{(change == ProxyChange.Runtime ? "switched at runtime, no reload" : change == ProxyChange.Reload ? "new routes, reloaded" : "it already did")}).");
    }

    /// <summary>Waits for the sessions DeployRelease opened, starts the proxy if it is not running, installs the certificate; returns the config it runs.</summary>
    private static async Task<string?> ReadyAndReadLiveConfigAsync(DeploymentContext context, CancellationToken ct)
    {
        var proxy = context.ProxySwitch.Proxy;
        if (context.State.ProxyPrepared is { } preparing)
        {
            // Opened since DeployRelease started; if that failed, the steps below open them.
            await preparing.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await proxy.EnsureRunningAsync(
            token => context.Journal.RecordAsync(UndoStep.RemoveContainer(context.Options.ProxyContainer), token),
            ct);
        if (await proxy.InstallCertificateAsync(ct) == ProxyChange.Runtime)
        {
            context.Log.Information($"{proxy.Kind} at {proxy.PublicHttpsUrl} now answers TLS with the configured certificate (replaced without a reload).");
        }

        return await proxy.ReadLiveConfigAsync(ct);
    }

    /// <summary>
    /// Opens the sessions to a running proxy (its runtime interface and its shell) ahead of the switch; they change
    /// nothing. Only a head start: the switch opens them itself when this failed, and says what failed if it cannot.
    /// </summary>
    internal static async Task OpenSessionsAsync(IProxy proxy, CancellationToken ct)
    {
        try
        {
            await proxy.PrepareAsync(ct);
        }
        catch (Exception e) when (e is ProxyException or Docker.DockerEngineException or OperationCanceledException)
        {
            // The switch opens them itself.
        }
    }
}
