using System.Globalization;

namespace Pipeline.Forecasting;

/// <summary>
/// How request rates become replicas, and how the forecast and scaling read them. Part of the deployment options
/// (<c>--forecast-query</c>, <c>--history-days</c>, <c>--forecast-hours</c>, <c>--capacity-per-replica</c>,
/// <c>--headroom</c>, <c>--min-replicas</c>, <c>--max-replicas</c>, <c>--stabilization-window</c>,
/// <c>--forecast-only</c>); <see cref="Problems"/> checks them.
/// </summary>
public sealed record ScalingOptions
{
    /// <summary>The most replicas any option may ask for.</summary>
    public const int ReplicaLimit = 100;

    /// <summary>The longest history that can be asked for, in days.</summary>
    public const int MaxHistoryDays = 90;

    /// <summary>
    /// The PromQL query of the service's request rate, one series. <c>${service}</c>, <c>${proxy_container}</c> and
    /// <c>${window}</c> (the rate window, e.g. <c>3600s</c>) are replaced before it is sent.
    /// </summary>
    /// <value>The default value is null: the proxy's own metrics (<see cref="RequestRateQuery.HaproxyDefault"/> for HAProxy, <see cref="RequestRateQuery.NginxDefault"/> for nginx).</value>
    public string? Query { get; init; }

    /// <summary>How many days of history the forecast reads.</summary>
    /// <value>The default value is 14 days.</value>
    public int HistoryDays { get; init; } = 14;

    /// <summary>How many hours ahead the forecast goes.</summary>
    /// <value>The default value is 48 hours.</value>
    public int HorizonHours { get; init; } = 48;

    /// <summary>Requests per second one replica serves at its target load.</summary>
    /// <value>The default value is 100 requests per second: measure your service's and set it.</value>
    public double CapacityPerReplica { get; init; } = 100;

    /// <summary>The factor on the rate before it is divided by the capacity: 1.2 keeps 20 % spare.</summary>
    /// <value>The default value is 1.2.</value>
    public double Headroom { get; init; } = 1.2;

    /// <summary>The fewest replicas a release runs.</summary>
    /// <value>The default value is 1.</value>
    public int MinReplicas { get; init; } = 1;

    /// <summary>The most replicas a release runs.</summary>
    /// <value>The default value is 10.</value>
    public int MaxReplicas { get; init; } = 10;

    /// <summary>How long the observed load must stay below what fewer replicas serve before scaling in.</summary>
    /// <value>The default value is 5 minutes.</value>
    public TimeSpan StabilizationWindow { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>When true, scaling only reports what it would do.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool ForecastOnly { get; init; } = true;

    /// <summary>The replicas a rate needs: <c>ceil(rate × headroom / capacity)</c>, bounded by min and max replicas.</summary>
    public int ReplicasFor(double rate)
    {
        if (!double.IsFinite(rate) || rate <= 0)
        {
            return MinReplicas;
        }

        var needed = Math.Ceiling(rate * Headroom / CapacityPerReplica);
        return (int)Math.Clamp(needed, MinReplicas, MaxReplicas);
    }

    /// <summary>Every problem with these options, each naming the option, its value and the fix; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        void Check(bool ok, string problem)
        {
            if (!ok)
            {
                problems.Add(problem);
            }
        }

        Check(Query is null || !string.IsNullOrWhiteSpace(Query),
            "--forecast-query is empty: give a PromQL query of the service's request rate (one series), e.g. --forecast-query='sum(rate(http_requests_total{service=\"${service}\"}[${window}]))', or leave it out for the proxy's metrics");
        Check(HistoryDays is >= 3 and <= MaxHistoryDays,
            $"--history-days={HistoryDays}: must be 3 to {MaxHistoryDays} days (two to learn the daily pattern plus the held-out day; 14 or more to learn the weekly one); e.g. --history-days=14");
        Check(HorizonHours is >= 1 and <= 168, $"--forecast-hours={HorizonHours}: must be 1 to 168 hours (a week); e.g. --forecast-hours=48");
        Check(double.IsFinite(CapacityPerReplica) && CapacityPerReplica > 0,
            $"--capacity-per-replica={Number(CapacityPerReplica)}: must be the requests per second one replica serves, above 0; measure it and set e.g. --capacity-per-replica=100");
        Check(double.IsFinite(Headroom) && Headroom is >= 1 and <= 10,
            $"--headroom={Number(Headroom)}: must be a factor from 1 (no spare capacity) to 10; e.g. --headroom=1.2 keeps 20 % spare");
        Check(MinReplicas is >= 1 and <= ReplicaLimit, $"--min-replicas={MinReplicas}: must be 1 to {ReplicaLimit} (a live release runs at least one replica); e.g. --min-replicas=1");
        Check(MaxReplicas is >= 1 and <= ReplicaLimit, $"--max-replicas={MaxReplicas}: must be 1 to {ReplicaLimit}; e.g. --max-replicas=10");
        var bothInRange = MinReplicas is >= 1 and <= ReplicaLimit && MaxReplicas is >= 1 and <= ReplicaLimit;
        Check(!bothInRange || MinReplicas <= MaxReplicas,
            $"--min-replicas={MinReplicas} is above --max-replicas={MaxReplicas}: lower --min-replicas or raise --max-replicas to at least {MinReplicas}");
        Check(StabilizationWindow >= TimeSpan.FromSeconds(30) && StabilizationWindow <= TimeSpan.FromDays(1),
            $"--stabilization-window={Number(StabilizationWindow.TotalSeconds)}: must be 30 to 86400 seconds of observed load below the target before scaling in; e.g. --stabilization-window=300");
        return problems;
    }

    private static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);
}
