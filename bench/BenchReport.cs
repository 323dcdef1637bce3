using System.Globalization;
using System.Text;

namespace Pipeline.Bench;

/// <summary>The figures for one proxy kind.</summary>
internal sealed record ProxyFigures
{
    public required string Proxy { get; init; }
    public int Deploys { get; init; }
    public int DeploysFailed { get; init; }
    public int Rollbacks { get; init; }
    public int RollbacksRestored { get; init; }
    public long Requests { get; init; }
    public long Failed { get; init; }
    public long KeepAliveRequests { get; init; }
    public long KeepAliveFailed { get; init; }
    public long CloseRequests { get; init; }
    public long CloseFailed { get; init; }
    public long HttpsRequests { get; init; }
    public long HttpsFailed { get; init; }
    public long? RouteAddedFailed { get; init; }
    public double LoadSeconds { get; init; }
    public double? SwitchP50Ms { get; init; }
    public double? SwitchP99Ms { get; init; }
    public double? RollbackP50Ms { get; init; }
    public double? RollbackMaxMs { get; init; }
    public double? PipelineDeployMedianS { get; init; }
    public double? BaselineDeployMedianS { get; init; }
    public double? OverheadRatio { get; init; }
    /// <summary>Render plus apply (which validates the candidate, then loads it) of the 1,000-route config.</summary>
    public double? Config1000Ms { get; init; }
    public double? Config1000RenderMs { get; init; }

    /// <summary>The validator run alone on that config, before the apply: part of the apply's time, not added to the total.</summary>
    public double? Config1000ValidateMs { get; init; }
    public double? Config1000ApplyMs { get; init; }
    public IReadOnlyDictionary<string, double> StageMedianS { get; init; } = new Dictionary<string, double>();
    public IReadOnlyList<double> SwitchMs { get; init; } = [];
    public IReadOnlyList<double> RollbackMs { get; init; } = [];
    public IReadOnlyList<double> PipelineDeployS { get; init; } = [];
    public IReadOnlyList<double> BaselineDeployS { get; init; } = [];
    public IReadOnlyList<LoadFailure> FirstFailures { get; init; } = [];
    public IReadOnlyList<string> Problems { get; init; } = [];
}

/// <summary>K services deployed at the same time on one engine.</summary>
internal sealed record ConcurrencyFigures(string Proxy, int Services, double TotalSeconds, int Failed, IReadOnlyList<string> Problems);

/// <summary>Everything one bench run measured, as written to the JSON file.</summary>
internal sealed record BenchReport
{
    public required string Command { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required double WallSeconds { get; init; }
    public required string Machine { get; init; }
    public required string LoadClient { get; init; }
    public required string DefaultProxy { get; init; }
    public required int DeploysPerProxy { get; init; }
    public required int RollbacksPerProxy { get; init; }
    public required int KeepAliveConnections { get; init; }
    public required int CloseConnections { get; init; }
    public required double RequestIntervalMs { get; init; }

    /// <summary>The deployed examples/hello's listen backlog (<c>--listen-backlog</c>); 0 = busybox httpd's own, 9.</summary>
    public int ListenBacklog { get; init; }
    public required IReadOnlyList<ProxyFigures> Proxies { get; init; }
    public ConcurrencyFigures? Concurrency { get; init; }

    /// <summary>
    /// The closing line, for the default proxy:
    /// <c>bench: requests=&lt;n&gt; failed=&lt;n&gt; switch_p99_ms=&lt;n&gt; rollback_max_ms=&lt;n&gt; overhead_ratio=&lt;x.xx&gt; config1000_ms=&lt;n&gt;</c>.
    /// A figure that was not measured (e.g. --rollbacks=0) reads <c>n/a</c>.
    /// </summary>
    public static string SummaryLine(ProxyFigures f) =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"bench: requests={f.Requests} failed={f.Failed} switch_p99_ms={Whole(f.SwitchP99Ms)} rollback_max_ms={Whole(f.RollbackMaxMs)} overhead_ratio={(f.OverheadRatio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : "n/a")} config1000_ms={Whole(f.Config1000Ms)}");

    /// <summary>The console table: one column per proxy kind.</summary>
    public string Table()
    {
        var rows = new List<(string Name, Func<ProxyFigures, string> Value)>
        {
            ("deploys (failed)", f => $"{f.Deploys} ({f.DeploysFailed})"),
            ("rollbacks (restored)", f => $"{f.Rollbacks} ({f.RollbacksRestored})"),
            ("requests sent", f => f.Requests.ToString(CultureInfo.InvariantCulture)),
            ("requests failed", f => f.Failed.ToString(CultureInfo.InvariantCulture)),
            ("  keep-alive sent/failed", f => $"{f.KeepAliveRequests}/{f.KeepAliveFailed}"),
            ("  close sent/failed", f => $"{f.CloseRequests}/{f.CloseFailed}"),
            ("  of them HTTPS sent/failed", f => $"{f.HttpsRequests}/{f.HttpsFailed}"),
            ("new route under load: failed", f => f.RouteAddedFailed is { } n ? n.ToString(CultureInfo.InvariantCulture) : "n/a"),
            ("switch p50 / p99 ms", f => $"{Whole(f.SwitchP50Ms)} / {Whole(f.SwitchP99Ms)}"),
            ("rollback p50 / max ms", f => $"{Whole(f.RollbackP50Ms)} / {Whole(f.RollbackMaxMs)}"),
            ("deploy median s (pipeline)", f => Seconds(f.PipelineDeployMedianS)),
            ("deploy median s (baseline)", f => Seconds(f.BaselineDeployMedianS)),
            ("overhead ratio", f => f.OverheadRatio is { } r ? r.ToString("0.000", CultureInfo.InvariantCulture) : "n/a"),
            ("1,000-route config ms", f => $"{Whole(f.Config1000Ms)} (render {Whole(f.Config1000RenderMs)}, apply {Whole(f.Config1000ApplyMs)}; validator alone {Whole(f.Config1000ValidateMs)})"),
        };
        var width = rows.Max(r => r.Name.Length) + 2;
        var columns = Proxies.Select(p => Math.Max(p.Proxy.Length, rows.Max(r => r.Value(p).Length)) + 2).ToList();
        var text = new StringBuilder();
        text.Append("".PadRight(width));
        for (var i = 0; i < Proxies.Count; i++)
        {
            text.Append(Proxies[i].Proxy.PadLeft(columns[i]));
        }

        text.AppendLine();
        foreach (var (name, value) in rows)
        {
            text.Append(name.PadRight(width));
            for (var i = 0; i < Proxies.Count; i++)
            {
                text.Append(value(Proxies[i]).PadLeft(columns[i]));
            }

            text.AppendLine();
        }

        if (Concurrency is { } c)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"{c.Services} services deployed concurrently ({c.Proxy}): {c.TotalSeconds:0.0} s in total, {c.Failed} failed");
        }

        return text.ToString().TrimEnd();
    }

    private static string Whole(double? value) => value is { } v ? Math.Round(v).ToString("0", CultureInfo.InvariantCulture) : "n/a";

    private static string Seconds(double? value) => value is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";
}
