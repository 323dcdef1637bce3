using System.Globalization;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline.Forecasting;
using Pipeline.Frosting;
using Pipeline.Metrics;

namespace Pipeline.Tasks;

/// <summary>
/// Forecasts the service's request rate for the coming hours from its history in Prometheus and prints, per hour, the
/// rate and the replicas it implies, with the forecast's error on the last day of the history (MAPE). Reads only:
/// it changes nothing. A table, or JSON alone on standard output with <c>--format=json --verbosity=quiet</c>.
/// </summary>
[TaskName("Forecast")]
[TaskDescription("Forecasts the service's request rate and the replicas it implies from Prometheus, with the error on the last day (MAPE); reads only (--format=json for JSON).")]
public sealed class Forecast : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>The window of the "now" rate.</summary>
    private static readonly TimeSpan NowWindow = TimeSpan.FromMinutes(5);

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var json = OutputFormat.IsJson(context);
        var options = context.Options;
        var scaling = options.Scaling;
        var template = scaling.Query ?? RequestRateQuery.DefaultFor(options.ProxyKind);
        var query = RequestRateQuery.Expand(template, context.Service, options.ProxyContainer);
        var now = context.Time.GetUtcNow();

        using var prometheus = new PrometheusClient(options.PrometheusUrl);
        var rates = new RequestRates(prometheus, query);
        RateForecast forecast;
        MetricSample? current;
        try
        {
            var history = await rates.HistoryAsync(now, scaling.HistoryDays, context.CancellationToken);
            forecast = RateForecaster.Forecast(history, scaling.HorizonHours);
            current = await rates.CurrentAsync(now, NowWindow, context.CancellationToken);
        }
        catch (PrometheusException e)
        {
            throw new CakeException(1, $"{e.Message} {Fix(e, context)} Nothing was changed.");
        }

        if (json)
        {
            OutputFormat.WriteJson(Report(context, query, forecast, current));
            return;
        }

        Print(context, query, forecast, current);
    }

    private static string Fix(PrometheusException e, DeploymentContext context) => e switch
    {
        PrometheusUnreachableException =>
            $"Start it (./build.sh --target=ProvisionLocalServices starts one when --prometheus-url is on loopback) or point --prometheus-url at yours.",
        PrometheusQueryException { StatusCode: 400 or 422 } => "Fix the PromQL in --forecast-query.",
        PrometheusQueryException => "Check that --prometheus-url is a Prometheus that answers its HTTP API.",
        PrometheusResultShapeException => "Give --forecast-query a query of the service's requests per second as one series.",
        PrometheusEmptyResultException when context.Options.Scaling.Query is null =>
            $"Is {context.Service} deployed behind the {context.Options.ProxyKind} proxy '{context.Options.ProxyContainer}', and does this Prometheus scrape the proxy's metrics (job pipeline-proxy, see README \"Keeping it alive and sized\")? Otherwise give --forecast-query.",
        _ => "Check --forecast-query, --history-days and that Prometheus scrapes the service.",
    };

    private static object Report(DeploymentContext context, string query, RateForecast forecast, MetricSample? current)
    {
        var scaling = context.Options.Scaling;
        return new
        {
            service = context.Service,
            prometheus = context.Options.PrometheusUrl,
            query,
            status = forecast.Status == ForecastStatus.Ready ? "ready" : "too-little-history",
            message = forecast.Message,
            history = forecast.History,
            model = forecast.Model,
            heldOut = forecast.HeldOut,
            now = current is { } c ? new { time = c.Time, rate = Round(c.Value), replicas = scaling.ReplicasFor(c.Value) } : null,
            replicas = new { scaling.CapacityPerReplica, scaling.Headroom, min = scaling.MinReplicas, max = scaling.MaxReplicas },
            forecast = forecast.Points.Select(p => new { hour = p.HourStart, rate = Round(p.Rate), replicas = scaling.ReplicasFor(p.Rate) }),
        };
    }

    private static void Print(DeploymentContext context, string query, RateForecast forecast, MetricSample? current)
    {
        var scaling = context.Options.Scaling;
        var log = context.Log;
        var history = forecast.History;
        log.Information($"Forecast of {context.Service}'s request rate from Prometheus {context.Options.PrometheusUrl} (reads only; changes nothing)");
        log.Information($"{"query",-9} {query}");
        log.Information($"{"history",-9} {scaling.HistoryDays} days to {Time(history.To)} UTC: {history.Hours} hours, {history.ObservedHours} with data");
        log.Information($"{"now",-9} {(current is { } c ? $"{Number(c.Value)} req/s over the last {NowWindow.TotalMinutes:0} min -> {scaling.ReplicasFor(c.Value)} replica(s)" : "no rate in the last 5 min")}");
        log.Information($"{"replicas",-9} ceil(rate x {Number(scaling.Headroom)} / {Number(scaling.CapacityPerReplica)} req/s), {scaling.MinReplicas} to {scaling.MaxReplicas}");
        if (forecast.Status != ForecastStatus.Ready)
        {
            log.Information(forecast.Message!);
            return;
        }

        var model = forecast.Model!;
        log.Information($"{"model",-9} trend {model.GrowthPerDay * 100:+0.0;-0.0;0.0} %/day, daily season, {(model.WeeklySeason ? "weekly season" : "no weekly season (needs every weekday in the history)")}; fitted on {model.FittedHours} hours");
        log.Information($"{"hour (UTC)",-17} {"req/s",10} {"replicas",8}");
        foreach (var point in forecast.Points)
        {
            log.Information($"{Time(point.HourStart),-17} {Number(point.Rate),10} {scaling.ReplicasFor(point.Rate),8}");
        }

        var heldOut = forecast.HeldOut!;
        log.Information(heldOut.Mape is { } mape
            ? $"MAPE {mape.ToString("0.0", CultureInfo.InvariantCulture)} % on the held-out day {Time(heldOut.From)} to {Time(heldOut.To)} UTC ({heldOut.Hours} hours)"
            : $"MAPE not available: {heldOut.Unavailable}");
    }

    private static double Round(double value) => Math.Round(value, 3);

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Time(DateTimeOffset time) => time.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
}
