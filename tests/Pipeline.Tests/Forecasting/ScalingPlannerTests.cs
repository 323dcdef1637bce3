using Pipeline.Forecasting;
using Pipeline.Testing.Support;
using Pipeline.Metrics;

namespace Pipeline.Tests.Forecasting;

public sealed class ScalingPlannerTests
{
    // 100 req/s per replica, 20 % headroom: 150 req/s needs 2, 300 needs 4, 50 needs 1.
    private static readonly ScalingOptions Options = new() { CapacityPerReplica = 100, Headroom = 1.2, MinReplicas = 1, MaxReplicas = 10, StabilizationWindow = TimeSpan.FromMinutes(5) };
    private static readonly DateTimeOffset Hour13 = new(2026, 11, 30, 13, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static RateForecast ForecastFrom(DateTimeOffset firstHour, params double[] rates) => new(
        ForecastStatus.Ready,
        null,
        new HistorySummary(firstHour - TimeSpan.FromDays(14), firstHour, 336, 336, firstHour - TimeSpan.FromDays(14)),
        new HeldOutError(firstHour - TimeSpan.FromDays(1), firstHour, 2.5, 24, null),
        new ModelSummary(true, 0, 312),
        rates.Select((r, i) => new ForecastPoint(firstHour + TimeSpan.FromHours(i), r)).ToList());

    /// <summary>Observed rates every 30 s over the 10 minutes before <paramref name="now"/>; <paramref name="rate"/> gives each from its age.</summary>
    private static List<MetricSample> Observed(DateTimeOffset now, Func<TimeSpan, double> rate) =>
        Enumerable.Range(0, 21).Select(i => TimeSpan.FromSeconds(30 * (20 - i))).Select(age => new MetricSample(now - age, rate(age))).ToList();

    private static ScalingDecision Plan(int current, RateForecast forecast, IReadOnlyList<MetricSample> observed, DateTimeOffset now, TimeSpan startup, ScalingOptions? options = null) =>
        ScalingPlanner.Plan(new ScalingInput(current, forecast, observed, Step, startup, now), options ?? Options);

    [Test]
    public void Should_Scale_Out_Ahead_Of_The_Forecast_By_The_Start_Up_Time()
    {
        // Given: 150 req/s observed (2 replicas); the forecast says 150 for 13:00 and 14:00, then 300 for 15:00. Read as
        // a curve through the middle of each hour it rises from 14:30, and passes 166.7 req/s (3 replicas) at 14:36:40.
        // A replica takes 10 minutes to start.
        var forecast = ForecastFrom(Hour13, 150, 150, 300);
        var startup = TimeSpan.FromMinutes(10);
        var at1420 = Hour13.AddMinutes(80);
        var at1430 = Hour13.AddMinutes(90);

        // When
        var early = Plan(2, forecast, Observed(at1420, _ => 150), at1420, startup);
        var ahead = Plan(2, forecast, Observed(at1430, _ => 150), at1430, startup);
        var withoutLookAhead = Plan(2, forecast, Observed(at1430, _ => 150), at1430, TimeSpan.Zero);

        // Then: it starts the third replica while the load is still 150, the start-up time before it is needed
        early.Action.ShouldBe(ScalingAction.Hold);
        ahead.Action.ShouldBe(ScalingAction.ScaleOut);
        ahead.TargetReplicas.ShouldBe(3);
        ahead.Reason.ShouldBe("Scale out from 2 to 3: the forecast 175 req/s at 14:40 needs 3 (looking 600 s ahead: the release's start-up time).");
        withoutLookAhead.Action.ShouldBe(ScalingAction.Hold);
    }

    [Test]
    public void Should_Scale_Out_On_Observed_Load_Above_The_Forecast()
    {
        var decision = Plan(2, ForecastFrom(Hour13, 150, 150), Observed(Hour13.AddMinutes(20), _ => 500), Hour13.AddMinutes(20), TimeSpan.FromSeconds(5));

        decision.Action.ShouldBe(ScalingAction.ScaleOut);
        decision.TargetReplicas.ShouldBe(6);
        decision.Reason.ShouldBe("Scale out from 2 to 6: the observed 500 req/s needs 6.");
    }

    [Test]
    public void Should_Never_Scale_In_On_The_Forecast_Alone()
    {
        // Given: the forecast says 50 req/s (1 replica) but 300 req/s are observed (4 replicas run)
        var now = Hour13.AddMinutes(20);

        var decision = Plan(4, ForecastFrom(Hour13, 50, 50), Observed(now, _ => 300), now, TimeSpan.FromSeconds(5));

        decision.Action.ShouldBe(ScalingAction.Hold);
        decision.TargetReplicas.ShouldBe(4);
    }

    [Test]
    public void Should_Scale_In_When_The_Observed_Load_Stayed_Below_For_The_Stabilisation_Window()
    {
        // Given: 4 replicas, and for the last 10 minutes at most 140 req/s (2 replicas); the forecast agrees
        var now = Hour13.AddMinutes(20);

        var decision = Plan(4, ForecastFrom(Hour13, 140, 140), Observed(now, age => 100 + (age.TotalSeconds % 40)), now, TimeSpan.FromSeconds(5));

        decision.Action.ShouldBe(ScalingAction.ScaleIn);
        decision.TargetReplicas.ShouldBe(2);
        decision.Reason.ShouldBe("Scale in from 4 to 2: the observed load peaked at 130 req/s over the last 300 s, which needs 2, and the forecast 140 req/s at 13:20 needs 2.");
    }

    [Test]
    public void Should_Not_Scale_In_While_A_Spike_Is_Inside_The_Stabilisation_Window()
    {
        // Given: 4 replicas; the load fell from 300 to 100 req/s 3 minutes ago
        var now = Hour13.AddMinutes(20);
        var observed = Observed(now, age => age > TimeSpan.FromMinutes(3) ? 300 : 100);

        var during = Plan(4, ForecastFrom(Hour13, 100, 100), observed, now, TimeSpan.FromSeconds(5));
        var after = Plan(4, ForecastFrom(Hour13, 100, 100), Observed(now.AddMinutes(3), age => age > TimeSpan.FromMinutes(6) ? 300 : 100), now.AddMinutes(3), TimeSpan.FromSeconds(5));

        during.Action.ShouldBe(ScalingAction.Hold);
        during.Reason.ShouldContain("the observed peak over the last 300 s (300 req/s) needs 4");
        after.Action.ShouldBe(ScalingAction.ScaleIn);
        after.TargetReplicas.ShouldBe(2);
    }

    [Test]
    public void Should_Not_Scale_In_Below_What_The_Forecast_Needs_Within_The_Start_Up_Time()
    {
        // Given: 4 replicas, 50 req/s observed (1 replica) for 10 minutes, but the forecast rises from 50 (13:00) to
        // 300 (14:00): at 14:03, the start-up time ahead, it reads 187.5 req/s (3 replicas)
        var now = Hour13.AddMinutes(58);

        var decision = Plan(4, ForecastFrom(Hour13, 50, 300), Observed(now, _ => 50), now, TimeSpan.FromMinutes(5));

        decision.Action.ShouldBe(ScalingAction.ScaleIn);
        decision.TargetReplicas.ShouldBe(3);
        decision.Reason.ShouldEndWith("the forecast 187.5 req/s at 14:03 needs 3.");
    }

    [Test]
    public void Should_Not_Scale_In_Over_A_Gap_In_The_Observed_Load()
    {
        // Given: low load, but no observation between 4 and 1 minutes ago
        var now = Hour13.AddMinutes(20);
        var observed = Observed(now, _ => 50).Where(s => now - s.Time < TimeSpan.FromMinutes(1) || now - s.Time > TimeSpan.FromMinutes(4)).ToList();

        var decision = Plan(4, ForecastFrom(Hour13, 50, 50), observed, now, TimeSpan.FromSeconds(5));

        decision.Action.ShouldBe(ScalingAction.Hold);
        decision.Reason.ShouldContain("the observed load has a gap of 240 s in the 300 s stabilisation window, so it cannot show the load stayed low");
    }

    [Test]
    public void Should_Not_Scale_With_Too_Little_History()
    {
        var forecast = RateForecaster.Forecast(SyntheticTraffic.BrandNew(Hour13, 20).Hourly(Hour13 - TimeSpan.FromDays(14), Hour13), 48);
        var now = Hour13.AddMinutes(10);

        var high = Plan(1, forecast, Observed(now, _ => 1000), now, TimeSpan.FromSeconds(5));
        var low = Plan(5, forecast, Observed(now, _ => 1), now, TimeSpan.FromSeconds(5));

        high.Action.ShouldBe(ScalingAction.Hold);
        low.Action.ShouldBe(ScalingAction.Hold);
        high.Reason.ShouldStartWith("Too little history to forecast:");
        high.Reason.ShouldEndWith("Keeping 1 replica(s).");
    }

    [Test]
    public void Should_Not_Scale_In_After_A_One_Off_Spike_In_The_History()
    {
        // Given: a history with an 8x spike from 13:00 3 days ago; at 50 req/s per replica, 2 replicas serve 13:00-14:00
        // (the daily shape gives ~75 req/s), and the spike's hours would need 10
        var history = SyntheticTraffic.OneOffSpike(Hour13, TimeSpan.FromDays(3));
        var forecast = RateForecaster.Forecast(history.Hourly(Hour13 - TimeSpan.FromDays(14), Hour13), 48);
        var options = Options with { CapacityPerReplica = 50 };
        var now = Hour13.AddMinutes(20);

        var decision = Plan(2, forecast, Observed(now, age => history.Rate(now - age)), now, TimeSpan.FromSeconds(5), options);

        // Then: neither the spike's hour of the day is forecast high, nor anything scaled
        options.ReplicasFor(forecast.Points[0].Rate).ShouldBe(2);
        decision.Action.ShouldBe(ScalingAction.Hold);
        decision.TargetReplicas.ShouldBe(2);
    }

    [Test]
    public void Should_Only_Report_In_Forecast_Only_Mode()
    {
        var now = Hour13.AddMinutes(20);
        var forecast = ForecastFrom(Hour13, 500, 500);

        var reporting = Plan(2, forecast, Observed(now, _ => 500), now, TimeSpan.Zero);
        var acting = Plan(2, forecast, Observed(now, _ => 500), now, TimeSpan.Zero, Options with { ForecastOnly = false });

        reporting.Action.ShouldBe(ScalingAction.ScaleOut);
        reporting.MayAct.ShouldBeFalse();
        acting.MayAct.ShouldBeTrue();
    }

    [TestCase(0, ScalingAction.ScaleOut, 2)]
    [TestCase(7, ScalingAction.ScaleIn, 5)]
    public void Should_Keep_Within_The_Bounds(int current, ScalingAction action, int target)
    {
        var now = Hour13.AddMinutes(20);
        var options = Options with { MinReplicas = 2, MaxReplicas = 5 };

        var decision = Plan(current, ForecastFrom(Hour13, 300, 300), Observed(now, _ => 300), now, TimeSpan.Zero, options);

        decision.Action.ShouldBe(action);
        decision.TargetReplicas.ShouldBe(target);
    }

    [Test]
    public void Should_Refuse_Invalid_Options()
    {
        var now = Hour13.AddMinutes(20);

        var error = Should.Throw<ArgumentException>(() => Plan(2, ForecastFrom(Hour13, 1), [], now, TimeSpan.Zero, Options with { CapacityPerReplica = 0 }));

        error.Message.ShouldStartWith("Invalid scaling options: --capacity-per-replica=0: must be the requests per second one replica serves, above 0");
    }

    [TestCase(0, 1)]
    [TestCase(1, 1)]
    [TestCase(83.3, 1)]
    [TestCase(84, 2)]
    [TestCase(300, 4)]
    [TestCase(100_000, 10)]
    public void Should_Compute_Replicas_As_Ceil_Of_Rate_Times_Headroom_Over_Capacity_Within_Bounds(double rate, int replicas) =>
        Options.ReplicasFor(rate).ShouldBe(replicas);
}
