using System.Globalization;
using Pipeline.Proxy;

namespace Pipeline.Bench;

/// <summary>The issue's aims, checked against a report: one line per aim, met or missed.</summary>
internal static class BenchAims
{
    public static IEnumerable<string> Notes(BenchReport report)
    {
        static string F(double? v, string format = "0") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "n/a";
        foreach (var p in report.Proxies)
        {
            yield return Aim(p.Failed == 0, $"{p.Proxy}: 0 failed requests (got {p.Failed} of {p.Requests}, {p.HttpsFailed} of {p.HttpsRequests} over HTTPS; aim counts at >= 20 deploys, 5 rollbacks, >= 16 keep-alive connections)");
            yield return p.Proxy == ProxyKind.Haproxy.Name
                ? Aim(p.SwitchP99Ms <= 100, $"haproxy: switch p99 <= 100 ms (got {F(p.SwitchP99Ms)} ms)")
                : Aim(p.SwitchP99Ms <= 1000, $"nginx: switch p99 <= 1 s (got {F(p.SwitchP99Ms)} ms)");
            yield return Aim(p.RouteAddedFailed == 0, $"{p.Proxy}: a new route under load loses nothing (got {(p.RouteAddedFailed is { } n ? n.ToString(CultureInfo.InvariantCulture) : "n/a")} failed)");

            yield return Aim(p.RollbackMaxMs <= 2000, $"{p.Proxy}: rollback <= 2 s (got max {F(p.RollbackMaxMs)} ms)");
            yield return Aim(p.OverheadRatio <= 0.8, $"{p.Proxy}: overhead ratio <= 0.8 (got {F(p.OverheadRatio, "0.000")})");
            yield return Aim(p.Config1000Ms < 1000, $"{p.Proxy}: 1,000-route config applied in < 1 s (got {F(p.Config1000Ms)} ms)");
        }

        var total = report.Proxies.Sum(p => p.Requests);
        yield return Aim(total >= 100_000, $"at least 100,000 requests in total (got {total.ToString("N0", CultureInfo.InvariantCulture)} over {string.Join(" and ", report.Proxies.Select(p => p.Proxy))})");
    }

    private static string Aim(bool met, string text) => $"aim {(met ? "met   " : "MISSED")}: {text}";
}
