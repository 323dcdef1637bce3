using System.Globalization;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Forecasting;
using Pipeline.Frosting;
using Pipeline.Healing;
using Pipeline.Metrics;

namespace Pipeline.Tasks;

/// <summary>
/// Changes how many replicas the live release runs, as a small deploy (lock, journal, registry, proxy, history; see
/// <see cref="ReleaseScaler"/>). With <c>--replicas=N</c> to N, within <c>--min-replicas</c>..<c>--max-replicas</c>.
/// Without it, to what <see cref="ScalingPlanner"/> decides from the request-rate history in Prometheus and the load
/// observed now (out ahead of the forecast by the release's start-up time; in only on observed load): it prints the
/// decision and the forecast's error (MAPE), and acts only with <c>--forecast-only=false</c>.
/// </summary>
[TaskName("Scale")]
[TaskDescription("Scales the live release to --replicas=N, or to the forecast's replicas (reports only unless --forecast-only=false), as a small deploy.")]
public sealed class Scale : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>The spacing of the observed rates the planner reads, and the rate window of each.</summary>
    private static readonly TimeSpan ObservedStep = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan ObservedWindow = TimeSpan.FromMinutes(2);

    /// <summary>The start-up time assumed when the service's history has no deploy that measured it.</summary>
    private static readonly TimeSpan DefaultStartupTime = TimeSpan.FromSeconds(60);

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var ct = context.CancellationToken;
        var scaling = context.Options.Scaling;
        if (context.Options.Replicas is { } asked && (asked < scaling.MinReplicas || asked > scaling.MaxReplicas))
        {
            throw new CakeException(1, asked < scaling.MinReplicas
                ? $"--replicas={asked} is below --min-replicas={scaling.MinReplicas}: ask for at least {scaling.MinReplicas} or lower --min-replicas. Nothing was changed."
                : $"--replicas={asked} is above --max-replicas={scaling.MaxReplicas}: ask for at most {scaling.MaxReplicas} or raise --max-replicas. Nothing was changed.");
        }

        await context.ResolveVersionAsync(ct);
        await context.ResolveRuntimeAsync(ct);
        var scaler = new ReleaseScaler(context);
        try
        {
            if (context.Options.Replicas is { } replicas)
            {
                await context.Lifecycle.StartAsync("Scale", announce: false, ct);
                context.Log.Information($"Scale: {await scaler.ScaleAsync(replicas, $"--replicas={replicas}", ct)}");
                return;
            }

            var live = await scaler.LiveReleaseAsync(ct);
            var decision = await PlanAsync(context, live.DesiredReplicas, ct);
            context.Log.Information($"Scale: {decision.Reason}");
            if (decision.Action == ScalingAction.Hold)
            {
                return;
            }

            if (!decision.MayAct)
            {
                context.Log.Information($"Forecast-only: nothing was changed. To act on it: --target=Scale --forecast-only=false (or --replicas={decision.TargetReplicas}).");
                return;
            }

            await context.Lifecycle.StartAsync("Scale", announce: false, ct);
            context.Log.Information($"Scale: {await scaler.ScaleAsync(decision.TargetReplicas, decision.Reason, ct)}");
        }
        catch (ScaleFailedException e)
        {
            throw new CakeException(1, e.Message);
        }
    }

    /// <summary>Reads the history and the observed load from Prometheus, forecasts, and asks the planner; reads only.</summary>
    private static async Task<ScalingDecision> PlanAsync(DeploymentContext context, int current, CancellationToken ct)
    {
        var options = context.Options;
        var scaling = options.Scaling;
        var template = scaling.Query ?? RequestRateQuery.DefaultFor(options.ProxyKind);
        var now = context.Time.GetUtcNow();
        using var prometheus = new PrometheusClient(options.PrometheusUrl);
        var rates = new RequestRates(prometheus, RequestRateQuery.Expand(template, context.Service, options.ProxyContainer));
        var startup = await StartupTimeAsync(context, ct);
        try
        {
            var forecast = RateForecaster.Forecast(await rates.HistoryAsync(now, scaling.HistoryDays, ct), scaling.HorizonHours);
            var observed = await rates.ObservedAsync(now, scaling.StabilizationWindow + ObservedWindow, ObservedStep, ObservedWindow, ct);
            context.Log.Information(forecast.HeldOut?.Mape is { } mape
                ? $"Forecast of {context.Service} from {options.PrometheusUrl}: MAPE {mape.ToString("0.0", CultureInfo.InvariantCulture)} % on the held-out day; start-up time {startup.TotalSeconds:0.#} s; {current} replica(s) now."
                : $"Forecast of {context.Service} from {options.PrometheusUrl}: {forecast.Message ?? forecast.HeldOut?.Unavailable ?? "no MAPE"}; {current} replica(s) now.");
            return ScalingPlanner.Plan(new ScalingInput(current, forecast, observed, ObservedStep, startup, now), scaling);
        }
        catch (PrometheusException e)
        {
            throw new CakeException(1, $"{e.Message} Give --replicas=N to scale without the forecast, or point --prometheus-url at a Prometheus that scrapes the proxy. Nothing was changed.");
        }
    }

    /// <summary>How long the release took to start and become healthy on its last deploy (DeployRelease), else 60 s.</summary>
    private static async Task<TimeSpan> StartupTimeAsync(DeploymentContext context, CancellationToken ct)
    {
        var last = (await context.Catalog.GetHistoryAsync(context.Service, 1, ct)).FirstOrDefault();
        return last?.StageSeconds.TryGetValue(nameof(DeployRelease), out var seconds) == true && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : DefaultStartupTime;
    }
}
