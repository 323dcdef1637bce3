using Pipeline.Forecasting;
using Pipeline.Metrics;
using Pipeline.Testing.Support;

namespace Pipeline.Bench;

/// <summary>
/// Replays the scaling planner minute by minute against a known load: each minute the planner sees the load of the
/// last minutes and the forecast; a scale-out's replicas serve only after the start-up time, a scale-in takes effect
/// at once. Counts the minutes whose load needed more replicas than were serving. Pure (no Prometheus, no clock):
/// what Scale would have done, not a run of it.
/// </summary>
internal static class PlannerReplay
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    /// <summary>Replays from <paramref name="from"/> to <paramref name="to"/>; without <paramref name="useForecast"/> the planner sees no forecast (reactive only).</summary>
    public static ReplayFigures Run(SyntheticTraffic traffic, RateForecast forecast, ScalingOptions options, TimeSpan startup, DateTimeOffset from, DateTimeOffset to, bool useForecast)
    {
        var seen = useForecast ? forecast : forecast with { Points = [] };
        var serving = options.ReplicasFor(traffic.Rate(from));
        var starting = new List<(DateTimeOffset ReadyAt, int Count)>();
        var observed = new Queue<MetricSample>();
        int outs = 0, ins = 0, short_ = 0;
        double replicaMinutes = 0, neededMinutes = 0;
        var timeline = new List<ReplayStep>();
        for (var now = from; now < to; now += Minute)
        {
            var load = traffic.Rate(now);
            observed.Enqueue(new MetricSample(now, load));
            while (observed.Peek().Time < now - options.StabilizationWindow - (2 * Minute))
            {
                observed.Dequeue();
            }

            serving += starting.Where(s => s.ReadyAt <= now).Sum(s => s.Count);
            starting.RemoveAll(s => s.ReadyAt <= now);

            var decision = ScalingPlanner.Plan(new ScalingInput(serving + starting.Sum(s => s.Count), seen, observed.ToList(), Minute, startup, now), options);
            switch (decision.Action)
            {
                case ScalingAction.ScaleOut:
                    outs++;
                    starting.Add((now + startup, decision.TargetReplicas - decision.CurrentReplicas));
                    break;
                case ScalingAction.ScaleIn:
                    ins++;
                    serving -= decision.CurrentReplicas - decision.TargetReplicas;
                    break;
                case ScalingAction.Hold:
                    break;
            }

            var needed = options.ReplicasFor(load);
            short_ += needed > serving ? 1 : 0;
            replicaMinutes += serving;
            neededMinutes += needed;
            if (decision.Action != ScalingAction.Hold)
            {
                timeline.Add(new ReplayStep(now, Math.Round(load, 1), decision.Action.ToString(), decision.CurrentReplicas, decision.TargetReplicas, decision.Reason));
            }
        }

        return new ReplayFigures(outs, ins, short_, replicaMinutes / 60, neededMinutes / 60, timeline);
    }
}

/// <summary>What a replay counted.</summary>
/// <param name="ScaleOuts">Scale-out decisions.</param>
/// <param name="ScaleIns">Scale-in decisions.</param>
/// <param name="MinutesShort">Minutes whose load needed more replicas than were serving.</param>
/// <param name="ReplicaHours">Replica-hours serving.</param>
/// <param name="NeededReplicaHours">Replica-hours the load needed, minute by minute (a perfect oracle).</param>
/// <param name="Timeline">Every scale-out and scale-in, with the load and the reason.</param>
internal sealed record ReplayFigures(int ScaleOuts, int ScaleIns, int MinutesShort, double ReplicaHours, double NeededReplicaHours, IReadOnlyList<ReplayStep> Timeline);

/// <summary>One scaling decision of a replay.</summary>
internal sealed record ReplayStep(DateTimeOffset Time, double Load, string Action, int From, int To, string Reason);
