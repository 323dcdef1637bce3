using System.Globalization;
using Pipeline.Proxy;

namespace Pipeline.Bench;

/// <summary>The bench's own options (<c>--deploys=N --rollbacks=M --connections=C --proxy=nginx|haproxy|all …</c>).</summary>
internal sealed record BenchOptions
{
    /// <summary>Successful deploys per proxy kind. The default value is 20.</summary>
    public int Deploys { get; init; } = 20;

    /// <summary>Deploys whose post-integration tests fail and roll back, per proxy kind. The default value is 5.</summary>
    public int Rollbacks { get; init; } = 5;

    /// <summary>Keep-alive clients. The default value is 16.</summary>
    public int Connections { get; init; } = 16;

    /// <summary><c>Connection: close</c> clients. The default value is 4.</summary>
    public int CloseConnections { get; init; } = 4;

    /// <summary>
    /// Pause between a client's answer and its next request. The default value is 40 ms: the default run then sends
    /// more than the 100,000 requests the aim counts at (about 97,000 at 50 ms, deploys being faster now).
    /// </summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>Proxy kinds to measure, the default (first) one gives the summary line. The default value is haproxy, nginx.</summary>
    public IReadOnlyList<string> Proxies { get; init; } = AllProxies;

    /// <summary>Every proxy kind, the default one first.</summary>
    private static IReadOnlyList<string> AllProxies => [.. ProxyKind.All.OrderByDescending(k => k == ProxyKind.Default).Select(k => k.Name)];

    /// <summary>Services deployed concurrently in the scale step (0 skips it; at most 50). The default value is 10.</summary>
    public int ConcurrentServices { get; init; } = 10;

    /// <summary>Routes in the big-config step (0 skips it). The default value is 1000.</summary>
    public int ConfigRoutes { get; init; } = 1000;

    /// <summary>Run the baseline script after each successful pipeline deploy. The default value is true.</summary>
    public bool Baseline { get; init; } = true;

    /// <summary>
    /// Clients that go through the proxy's HTTPS port (a generated certificate; they trust only its CA), half keep-alive and
    /// half <c>Connection: close</c>; 0 deploys without HTTPS. The default value is 4.
    /// </summary>
    public int HttpsConnections { get; init; } = 4;

    /// <summary>Deploy a new service (a new route) while the load runs, and count what the load on the first one lost meanwhile. The default value is true.</summary>
    public bool RouteAdded { get; init; } = true;

    /// <summary>
    /// Log every request in the proxy (termination state, timers, server, status) with the load client's request id,
    /// and the engine's events, into artifacts/bench/; each failed request is looked up in the log. The default value is false.
    /// </summary>
    public bool CaptureProxyLog { get; init; }

    /// <summary>
    /// The listen backlog of the deployed copies of examples/hello: busybox nc listens with it and runs httpd per
    /// connection (serve.sh's <c>LISTEN_BACKLOG</c>); 0 keeps busybox httpd's own listener, whose backlog of 9 overflows
    /// under the bench's load (README "Benchmark"). The default value is 128.
    /// </summary>
    public int ListenBacklog { get; init; } = 128;

    /// <summary>
    /// <c>--orchestrator=swarm</c>: the swarm bench (<see cref="SwarmBench"/>: the deploys on one engine and on the test
    /// swarm, and a worker killed) instead of the proxy bench. The default value is false.
    /// </summary>
    public bool Swarm { get; init; }

    /// <summary>Reads the options from <c>--name=value</c> arguments; throws <see cref="ArgumentException"/> naming a bad one.</summary>
    public static BenchOptions Parse(Func<string, string?> argument)
    {
        var o = new BenchOptions();
        int Int(string name, int fallback, int min, int max)
        {
            var text = argument(name);
            if (text is null)
            {
                return fallback;
            }

            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
                ? value
                : throw new ArgumentException($"--{name}={text}: expected a whole number from {min} to {max}.");
        }

        var proxy = argument("proxy") ?? "all";
        IReadOnlyList<string> proxies = proxy == "all" ? AllProxies
            : ProxyKind.TryParse(proxy, out var kind) ? [kind.Name]
            : throw new ArgumentException($"--proxy={proxy}: use {string.Join(", ", AllProxies)} or all.");
        bool Bool(string name, bool fallback)
        {
            var text = argument(name);
            return text is null ? fallback
                : text is "true" or "1" or "yes" ? true
                : text is "false" or "0" or "no" ? false
                : throw new ArgumentException($"--{name}={text}: use true or false.");
        }

        var orchestrator = argument("orchestrator") ?? "containers";
        return o with
        {
            Swarm = orchestrator == "swarm" ? true
                : orchestrator == "containers" ? false
                : throw new ArgumentException($"--orchestrator={orchestrator}: the bench runs on containers (the proxy bench) or swarm."),
            Deploys = Int("deploys", o.Deploys, 1, 1000),
            Rollbacks = Int("rollbacks", o.Rollbacks, 0, 1000),
            Connections = Int("connections", o.Connections, 0, 1000),
            CloseConnections = Int("close-connections", o.CloseConnections, 0, 1000),
            HttpsConnections = Int("https-connections", o.HttpsConnections, 0, 1000),
            RouteAdded = Bool("route-added", o.RouteAdded),
            Interval = TimeSpan.FromMilliseconds(Int("interval-ms", (int)o.Interval.TotalMilliseconds, 0, 10_000)),
            Proxies = proxies,
            ConcurrentServices = Int("services", o.ConcurrentServices, 0, 50),
            ConfigRoutes = Int("config-routes", o.ConfigRoutes, 0, 100_000),
            Baseline = Bool("baseline", o.Baseline),
            CaptureProxyLog = Bool("capture-proxy-log", o.CaptureProxyLog),
            ListenBacklog = Int("listen-backlog", o.ListenBacklog, 0, 4096),
        };
    }

    /// <summary>Where <paramref name="deploys"/> deploys and <paramref name="rollbacks"/> failing ones go: true = a rollback, spread evenly.</summary>
    public static IReadOnlyList<bool> Schedule(int deploys, int rollbacks)
    {
        var total = deploys + rollbacks;
        var plan = new bool[total];
        for (var j = 0; j < rollbacks; j++)
        {
            // Evenly spaced between the deploys.
            var at = Math.Clamp((int)Math.Round((j + 1) * (double)total / (rollbacks + 1)), 0, total - 1);
            while (plan[at])
            {
                at = (at + 1) % total;
            }

            plan[at] = true;
        }

        return plan;
    }
}
