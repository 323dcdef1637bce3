using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Pipeline.Docker;
using Pipeline.IntegrationTests.Docker;
using Pipeline.Proxy;

namespace Pipeline.IntegrationTests.Proxy;

/// <summary>
/// The behaviour every <see cref="IProxy"/> must show against the real engine: one proxy container per fixture
/// (unique name, unique network, a free loopback port) in front of two busybox httpd upstreams that answer with
/// their own name ("blue" or "green").
/// </summary>
public abstract class ProxyContract(string kind)
{
    private static readonly TimeSpan SwitchDeadline = TimeSpan.FromSeconds(15);
    private readonly Dictionary<string, string> testLabels = new() { ["pipeline.test"] = "true" };
    private readonly List<string> containers = [];
    private IDockerEngine engine = null!;
    private ImageRef upstreamImage = null!;
    private string network = null!;
    private string buildDirectory = null!;
    private HttpClient http = null!;
    private string? initialLiveConfig;

    private protected ContainerProxy Proxy { get; private set; } = null!;

    private protected UpstreamEndpoint Blue { get; private set; } = null!;

    private protected UpstreamEndpoint Green { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartProxyAndUpstreams()
    {
        engine = new DockerEngine(TestEnvironment.Docker);
        network = TestEnvironment.UniqueName($"proxy-{kind}-net");
        upstreamImage = await BusyboxImage.BuildAsync(engine);
        buildDirectory = Directory.CreateTempSubdirectory("proxy-contract-").FullName;

        Proxy = ProxyFactory.Create(Options(), engine);
        containers.Add(Proxy.Options.ContainerName);
        await Proxy.EnsureRunningAsync();
        initialLiveConfig = await Proxy.ReadLiveConfigAsync();

        Blue = await StartUpstreamAsync("blue");
        Green = await StartUpstreamAsync("green");
        http = new HttpClient { BaseAddress = Proxy.PublicUrl, Timeout = TimeSpan.FromSeconds(5) };
    }

    [OneTimeTearDown]
    public async Task RemoveEverything()
    {
        http?.Dispose();
        if (engine is null)
        {
            return;
        }

        foreach (var container in containers)
        {
            await engine.RemoveContainerAsync(container);
        }

        await engine.RemoveNetworkAsync(network);
        if (upstreamImage is not null)
        {
            await BusyboxImage.RemoveImageAsync(upstreamImage);
        }

        if (buildDirectory is not null)
        {
            Directory.Delete(buildDirectory, recursive: true);
        }

        engine.Dispose();
    }

    private ProxyOptions Options(string? templatePath = null) => new()
    {
        Kind = ProxyKind.Parse(kind),
        ContainerName = TestEnvironment.UniqueName($"proxy-{kind}"),
        Network = network,
        ListenPort = FreeLoopbackPort(),
        TemplatePath = templatePath,
        Labels = testLabels,
    };

    [Test]
    public async Task Should_Start_With_A_Config_That_Answers_503_For_Everything()
    {
        // Given the proxy as EnsureRunningAsync created it
        initialLiveConfig.ShouldBe(Proxy.Render([]));
        await Proxy.ApplyAsync(Proxy.Render([]));

        // When anything is asked / Then it answers 503 with a short text
        await ExpectAsync("/anything", body: "No route for this request.", color: "", status: HttpStatusCode.ServiceUnavailable);
    }

    [Test]
    public async Task Should_Label_The_Container_And_Create_The_Network()
    {
        var info = (await engine.InspectContainerAsync(Proxy.Options.ContainerName)).ShouldNotBeNull();

        info.Labels["pipeline.role"].ShouldBe("proxy");
        info.Labels["pipeline.proxy"].ShouldBe(kind);
        info.Labels["pipeline.test"].ShouldBe("true");
        info.NetworkAddresses.Keys.ShouldContain(network);
        (await engine.ListNetworksAsync(new Dictionary<string, string> { ["pipeline.role"] = "proxy", ["pipeline.test"] = "true" }))
            .Select(n => n.Name).ShouldContain(network);
    }

    [Test]
    public async Task Should_Route_To_The_Upstream_And_Tag_The_Answer_With_Its_Colour()
    {
        // Given a route for / to blue
        await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]));

        // When asked through the public URL / Then blue answers, tagged by the proxy
        await ExpectAsync("/", body: "blue", color: "blue", service: "web", version: "1.0.0");
    }

    [Test]
    public async Task Should_Answer_From_The_New_Colour_After_A_Switch()
    {
        // Given blue is live
        await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]));
        await ExpectAsync("/", body: "blue", color: "blue");

        // When the route moves to green
        await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "green", "1.1.0", Green)]));

        // Then green answers
        await ExpectAsync("/", body: "green", color: "green", version: "1.1.0");
    }

    [Test]
    public async Task Should_Route_Two_Services_By_Path_Prefix_Keeping_The_Path()
    {
        // Given web on / (blue) and api on /api/ (green)
        await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue), Route("api", "/api/", "green", "2.0.0", Green)]));

        // Then /api/ reaches green's /api/ (the path is not stripped) and / reaches blue
        await ExpectAsync("/api/", body: "green api", color: "green", service: "api", version: "2.0.0");
        await ExpectAsync("/", body: "blue", color: "blue", service: "web");
    }

    [Test]
    public async Task Should_Route_By_Host_Name()
    {
        // Given admin.example.test on green and every other host on blue
        await Proxy.ApplyAsync(Proxy.Render([
            Route("web", "/", "blue", "1.0.0", Blue),
            Route("admin", "/", "green", "3.0.0", Green) with { HostName = "admin.example.test" },
        ]));

        // Then the Host header picks the route
        await ExpectAsync("/", body: "green", color: "green", service: "admin", host: "admin.example.test");
        await ExpectAsync("/", body: "blue", color: "blue", service: "web", host: "other.example.test");
    }

    [Test]
    public async Task Should_Keep_The_Live_Config_When_The_Proxy_Rejects_A_New_One()
    {
        // Given blue is live
        var live = Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]);
        await Proxy.ApplyAsync(live);

        // And a user template that renders a config the proxy cannot parse
        var templatePath = Path.Combine(buildDirectory, $"broken-{Guid.NewGuid():N}.liquid");
        await File.WriteAllTextAsync(templatePath, "this is {{ route_count }} not a proxy config {\n");
        var broken = ProxyFactory.Create(Proxy.Options with { TemplatePath = templatePath }, engine);
        var config = broken.Render([Route("web", "/", "green", "1.1.0", Green)]);

        // When it is validated or applied
        var validated = await Should.ThrowAsync<ProxyConfigRejectedException>(() => broken.ValidateAsync(config));
        var applied = await Should.ThrowAsync<ProxyConfigRejectedException>(() => broken.ApplyAsync(config));

        // Then the validator's output is carried, the live config is unchanged and blue still answers
        validated.ValidatorOutput.ShouldNotBeNullOrWhiteSpace();
        applied.Message.ShouldStartWith($"{kind} rejected the rendered config:");
        (await Proxy.ReadLiveConfigAsync()).ShouldBe(live);
        await ExpectAsync("/", body: "blue", color: "blue");
    }

    [Test]
    public async Task Should_Reject_Unsafe_Values_Before_Anything_Reaches_The_Proxy()
    {
        // Given a live config
        var live = Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]);
        await Proxy.ApplyAsync(live);

        // When a route carries a directive in its prefix
        var ex = Should.Throw<ArgumentException>(() => Proxy.Render([Route("web", "/; return 200 pwned; #", "green", "1.0.0", Green)]));

        // Then rendering refuses it and the proxy is untouched
        ex.Message.ShouldContain("'/; return 200 pwned; #'");
        (await Proxy.ReadLiveConfigAsync()).ShouldBe(live);
    }

    [Test]
    public async Task Should_Return_The_Applied_Config_As_Live()
    {
        var config = Proxy.Render([Route("web", "/", "green", "1.2.3", Green), Route("api", "/api/", "blue", "1.0.0", Blue)]);

        await Proxy.ApplyAsync(config);

        (await Proxy.ReadLiveConfigAsync()).ShouldBe(config);
    }

    [Test]
    public async Task Should_Ensure_Running_Idempotently_And_Restart_A_Stopped_Proxy()
    {
        // Given a proxy serving blue
        var config = Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]);
        await Proxy.ApplyAsync(config);
        var id = await Proxy.EnsureRunningAsync();

        // When asked again, and again after it was stopped
        (await Proxy.EnsureRunningAsync()).ShouldBe(id);
        (await Proxy.FindContainerAsync()).ShouldBe(id);
        await engine.StopContainerAsync(id, TimeSpan.FromSeconds(10));
        (await engine.InspectContainerAsync(id)).ShouldNotBeNull().IsRunning.ShouldBeFalse();
        (await Proxy.EnsureRunningAsync()).ShouldBe(id);

        // Then the same container runs the config it had
        (await engine.ListContainersAsync(new Dictionary<string, string> { ["pipeline.role"] = "proxy", ["pipeline.proxy"] = kind, ["pipeline.test"] = "true" }))
            .Count(c => c.Name.TrimStart('/') == Proxy.Options.ContainerName).ShouldBe(1);
        (await Proxy.ReadLiveConfigAsync()).ShouldBe(config);
        await ExpectAsync("/", body: "blue", color: "blue");
    }

    [Test]
    public async Task Should_Find_No_Container_For_A_Proxy_Never_Started()
    {
        var other = ProxyFactory.Create(Options(), engine);

        (await other.FindContainerAsync()).ShouldBeNull();
        (await other.ReadLiveConfigAsync()).ShouldBeNull();
        (await Should.ThrowAsync<ProxyException>(() => other.ApplyAsync(other.Render([])))).Message.ShouldContain("call EnsureRunningAsync first");
    }

    [Test]
    public async Task Should_Not_Fail_Requests_While_Switching_Ten_Times()
    {
        // Given blue is live and clients keep asking
        var blue = Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]);
        var green = Proxy.Render([Route("web", "/", "green", "1.1.0", Green) with { Standby = new StandbyRelease("blue", "1.0.0", [Blue]) }]);
        await Proxy.ApplyAsync(blue);
        await ExpectAsync("/", body: "blue", color: "blue");
        var workers = await ProxyProcessesAsync();

        // When the route switches ten times
        var changes = new List<ProxyChange>();
        var load = await UnderLoadAsync("/", "10 switches", async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await Task.Delay(150);
                changes.Add(await Proxy.ApplyAsync(i % 2 == 0 ? green : blue));
            }
        });

        // Then no request failed, and every switch was a runtime change: the proxy started no new process (an old one
        // that an earlier test's reload left, still holding a kept-alive connection, may have left meanwhile)
        load.ShouldBeEmpty();
        changes.ShouldAllBe(c => c == ProxyChange.Runtime);
        (await ProxyProcessesAsync()).Except(workers).ShouldBeEmpty();
        await ExpectAsync("/", body: "blue", color: "blue");
    }

    [Test]
    public async Task Should_Not_Fail_Requests_To_A_Route_While_Other_Routes_Are_Added()
    {
        // Given web on / with clients busy on it
        var web = Route("web", "/", "blue", "1.0.0", Blue);
        await Proxy.ApplyAsync(Proxy.Render([web]));
        await ExpectAsync("/", body: "blue", color: "blue");

        // When five services get routes of their own (HAProxy reloads seamlessly; nginx changes its route table at runtime)
        var changes = new List<ProxyChange>();
        var load = await UnderLoadAsync("/", "5 routes added", async () =>
        {
            var routes = new List<ProxyRoute> { web };
            for (var i = 1; i <= 5; i++)
            {
                await Task.Delay(150);
                routes.Add(Route($"svc{i}", $"/svc{i}/", "green", "1.0.0", Green));
                changes.Add(await Proxy.ApplyAsync(Proxy.Render(routes)));
            }
        });

        // Then web lost no request and the new routes answer
        load.ShouldBeEmpty();
        changes.ShouldAllBe(c => c == (kind == "nginx" ? ProxyChange.Runtime : ProxyChange.Reload));
        await ExpectAsync("/api/", body: "blue api", color: "blue", service: "web");
    }

    [Test]
    public async Task Should_Keep_A_Runtime_Switch_When_The_Proxy_Reloads()
    {
        // Given blue live, then switched to green at runtime
        await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue)]));
        (await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "green", "1.1.0", Green) with { Standby = new StandbyRelease("blue", "1.0.0", [Blue]) }])))
            .ShouldBe(ProxyChange.Runtime);
        await ExpectAsync("/", body: "green", color: "green", version: "1.1.0");

        // When the proxy reloads its files by itself (not through the adapter)
        await ReloadBehindTheAdaptersBackAsync();

        // Then it still answers from green with green's version: the files on disk said the same as the runtime
        await ExpectAsync("/", body: "green", color: "green", version: "1.1.0");
        await ExpectAsync("/", body: "green", color: "green", version: "1.1.0");
    }

    [Test]
    public async Task Should_Put_The_Runtime_Back_When_It_Differs_From_The_File()
    {
        // Given blue live and its file, and then the running proxy switched to green without the file (as a run killed
        // between the runtime change and the file write leaves it)
        var blue = Proxy.Render([Route("web", "/", "blue", "1.0.0", Blue) with { Standby = new StandbyRelease("green", "1.1.0", [Green]) }]);
        var green = Proxy.Render([Route("web", "/", "green", "1.1.0", Green) with { Standby = new StandbyRelease("blue", "1.0.0", [Blue]) }]);
        await Proxy.ApplyAsync(blue);
        await SwitchRuntimeBehindTheAdaptersBackAsync(green);
        await ExpectAsync("/", body: "green", color: "green");
        (await Proxy.ReadLiveConfigAsync()).ShouldBe(blue);

        // When the config the file holds is applied (what a rollback does)
        var change = await Proxy.ApplyAsync(blue);

        // Then the runtime is put back to blue without a reload, and the file still agrees
        change.ShouldBe(ProxyChange.Runtime);
        await ExpectAsync("/", body: "blue", color: "blue", version: "1.0.0");
        (await Proxy.ReadLiveConfigAsync()).ShouldBe(blue);
    }

    [Test]
    public async Task Should_Count_The_Requests_Sent_Per_Route_For_Prometheus_Across_A_Switch()
    {
        // Given two routes, web on blue and api on green, answering
        var web = Route("web", "/", "blue", "1.0.0", Blue) with { Standby = new StandbyRelease("green", "1.1.0", [Green]) };
        var api = Route("api", "/api/", "green", "1.0.0", Green);
        await Proxy.ApplyAsync(Proxy.Render([web, api]));
        await ExpectAsync("/", body: "blue", color: "blue");
        await ExpectAsync("/api/", body: "green api", color: "green");
        var webBefore = await RequestsCountedAsync("web");
        var apiBefore = await RequestsCountedAsync("api");

        // When 7 + 3 (a 404 from the upstream) requests go to web and 4 to api, then web switches to green and gets 5 more
        await SendAsync("/", 7, HttpStatusCode.OK);
        await SendAsync("/missing", 3, HttpStatusCode.NotFound);
        await SendAsync("/api/", 4, HttpStatusCode.OK);
        var afterFirst = await RequestsCountedAsync("web");
        (await Proxy.ApplyAsync(Proxy.Render([Route("web", "/", "green", "1.1.0", Green) with { Standby = new StandbyRelease("blue", "1.0.0", [Blue]) }, api])))
            .ShouldBe(ProxyChange.Runtime);
        await ExpectAsync("/", body: "green", color: "green");
        var afterSwitch = await RequestsCountedAsync("web");
        await SendAsync("/", 5, HttpStatusCode.OK);

        // Then the proxy's metrics count exactly those, per route, and the switch kept the count
        (afterFirst - webBefore).ShouldBe(10);
        (await RequestsCountedAsync("api") - apiBefore).ShouldBe(4);
        (await RequestsCountedAsync("web") - afterSwitch).ShouldBe(5);
        afterSwitch.ShouldBeGreaterThanOrEqualTo(afterFirst);
    }

    [Test]
    public async Task Should_Spread_Requests_Over_Every_Address_Of_The_Live_Release()
    {
        // Given web's live release with two replicas (the blue and the green upstream, which answer with their name)
        await Proxy.ApplyAsync(Proxy.Render([new ProxyRoute("web", "/", null, "blue", "1.0.0", [Blue, Green])]));
        await ExpectAsync("/", body: "blue", color: "blue");

        // When 10 requests come, one after the other, on one connection
        var answers = new List<string>();
        using var client = new HttpClient { BaseAddress = Proxy.PublicUrl, Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < 10; i++)
        {
            answers.Add((await client.GetStringAsync("/")).Trim());
        }

        // Then both replicas answered (round robin: half each)
        answers.Count(a => a == "blue").ShouldBe(5, string.Join(",", answers));
        answers.Count(a => a == "green").ShouldBe(5, string.Join(",", answers));
    }

    [Test]
    public async Task Should_Count_Requests_In_Flight_Per_Colour()
    {
        // Given a route whose live colour answers after 3 s
        var slow = await StartSlowUpstreamAsync(TimeSpan.FromSeconds(3));
        await Proxy.ApplyAsync(Proxy.Render([Route("slow", "/cgi-bin/", "blue", "1.0.0", slow) with { Standby = new StandbyRelease("green", "1.0.0", [Green]) }]));

        // (a worker this route's reload, or an earlier test's, left behind counts as one in flight while it still holds
        // this fixture's kept-alive client connection; it lets that connection go soon after)
        var settled = Stopwatch.StartNew();
        while (await Proxy.InFlightAsync("slow", "blue") != 0)
        {
            settled.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), "nothing was asked of the slow route, yet a request to blue stayed in flight");
            await Task.Delay(200);
        }
        var ready = Stopwatch.StartNew();
        while ((await http.GetAsync("/cgi-bin/missing")).StatusCode != HttpStatusCode.NotFound)
        {
            ready.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(15), "the slow upstream's httpd never answered");
            await Task.Delay(100);
        }

        // When a request is on its way to it
        var request = http.GetAsync("/cgi-bin/slow");
        var seen = 0;
        var deadline = Stopwatch.StartNew();
        while (seen == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10) && !request.IsCompleted)
        {
            seen = await Proxy.InFlightAsync("slow", "blue");
        }

        // Then the proxy counts it for blue (not green, not another service) until it is answered
        seen.ShouldBe(1);
        (await Proxy.InFlightAsync("slow", "green")).ShouldBe(0);
        (await Proxy.InFlightAsync("web", "blue")).ShouldBe(0);
        using var response = await request;
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        (await Proxy.InFlightAsync("slow", "blue")).ShouldBe(0);
    }

    /// <summary>
    /// Runs <paramref name="changes"/> while clients keep asking <paramref name="path"/>: HttpClient on kept-alive connections
    /// (it retries a request whose reused connection closed before any answer), a raw HTTP/1.1 client on kept-alive
    /// connections (no retry, like wrk), and HttpClient with Connection: close. Returns the failures.
    /// </summary>
    private async Task<List<string>> UnderLoadAsync(string path, string what, Func<Task> changes)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var httpClient = Enumerable.Range(0, 3).Select(_ => HttpClientLoadAsync(path, keepAlive: true, stop.Token)).ToList();
        var raw = Enumerable.Range(0, 4).Select(_ => RawKeepAliveLoadAsync(path, stop.Token)).ToList();
        var close = Enumerable.Range(0, 2).Select(_ => HttpClientLoadAsync(path, keepAlive: false, stop.Token)).ToList();
        var watch = Stopwatch.StartNew();
        try
        {
            await changes();
            await Task.Delay(300);
        }
        finally
        {
            await stop.CancelAsync();
        }

        var kept = Sum(await Task.WhenAll(httpClient));
        var rawKept = Sum(await Task.WhenAll(raw));
        var fresh = Sum(await Task.WhenAll(close));
        TestContext.Out.WriteLine(
            $"{kind}: {what} in {watch.Elapsed.TotalSeconds:0.0} s; HttpClient keep-alive: {kept.Requests} requests, {kept.Failures.Count} failed; " +
            $"raw keep-alive (no retry): {rawKept.Requests} requests, {rawKept.Failures.Count} failed; Connection: close: {fresh.Requests} requests, {fresh.Failures.Count} failed");
        var failures = kept.Failures.Concat(rawKept.Failures).Concat(fresh.Failures).ToList();
        foreach (var failure in failures.Take(5))
        {
            TestContext.Out.WriteLine("  " + failure);
        }

        kept.Requests.ShouldBeGreaterThan(100);
        rawKept.Requests.ShouldBeGreaterThan(100);
        fresh.Requests.ShouldBeGreaterThan(50);
        return failures;
    }

    /// <summary>
    /// The proxy's metrics as Prometheus scrapes them: <c>/metrics</c> on <see cref="ProxyOptions.MetricsPort"/> at the
    /// container's address on the fixture's network, on a new connection (one a reload's old process does not hold).
    /// </summary>
    private protected async Task<IReadOnlyList<ScrapedSample>> ScrapeAsync()
    {
        var info = (await engine.InspectContainerAsync(Proxy.Options.ContainerName)).ShouldNotBeNull();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var url = new UriBuilder("http", info.NetworkAddresses[network], ProxyOptions.MetricsPort, "/metrics").Uri;
        return PrometheusText.Parse(await client.GetStringAsync(url));
    }

    /// <summary>
    /// The requests the proxy counted on the service's routes (<c>{service}_{n}</c>): HAProxy's backends, nginx's routes.
    /// nginx counts a request in its log phase, just after the answer went out, so the count is read until two reads
    /// 100 ms apart agree (a CI reproduction read one request short in two tests, right after its answer).
    /// </summary>
    private protected async Task<double> RequestsCountedAsync(string service)
    {
        var route = new Regex($"^{Regex.Escape(service)}_[0-9]+$");
        var counted = double.NaN;
        for (var read = 0; read < 20; read++)
        {
            var samples = await ScrapeAsync();
            var now = kind == "nginx"
                ? PrometheusText.Sum(samples, "pipeline_route_requests_total", l => route.IsMatch(l["route"]))
                : PrometheusText.Sum(samples, "haproxy_backend_http_requests_total", l => route.IsMatch(l["proxy"]));
            if (now == counted)
            {
                break;
            }

            counted = now;
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        return counted;
    }

    /// <summary>Sends <paramref name="count"/> GETs through the proxy on a client of their own and checks each answer's status.</summary>
    private protected async Task SendAsync(string path, int count, HttpStatusCode status, string? host = null)
    {
        using var client = new HttpClient { BaseAddress = Proxy.PublicUrl, Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (host is not null)
            {
                request.Headers.Host = host;
            }

            using var response = await client.SendAsync(request);
            response.StatusCode.ShouldBe(status, $"GET {path} #{i + 1}");
        }
    }

    /// <summary>The proxy's own processes in its container (a reload replaces its workers).</summary>
    private protected async Task<IReadOnlyList<string>> ProxyProcessesAsync()
    {
        var result = await engine.ExecAsync(Proxy.Options.ContainerName, ["/bin/sh", "-c", "for p in /proc/[0-9]*; do case \"$(cat $p/comm 2>/dev/null)\" in haproxy|nginx) echo ${p#/proc/};; esac; done"]);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    private protected async Task ReloadBehindTheAdaptersBackAsync()
    {
        var before = await ProxyProcessesAsync();
        var command = kind == "nginx"
            ? "nginx -c /etc/nginx/pipeline-proxy.conf -g 'daemon off;' -s reload"
            : $"echo reload | socat -t 5 - unix-connect:{HaproxyProxy.MasterSocket}";
        (await engine.ExecAsync(Proxy.Options.ContainerName, ["/bin/sh", "-c", command])).ExitCode.ShouldBe(0);
        var deadline = Stopwatch.StartNew();
        while ((await ProxyProcessesAsync()).Except(before).Count() == 0)
        {
            deadline.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(15), "the proxy started no new process after the reload");
            await Task.Delay(100);
        }
    }

    /// <summary>Makes the running proxy route as <paramref name="config"/> says through its own runtime interface, leaving its files alone.</summary>
    private async Task SwitchRuntimeBehindTheAdaptersBackAsync(string config)
    {
        string command;
        if (kind == "nginx")
        {
            var state = ((ContainerProxy)ProxyFactory.Create(Proxy.Options, engine)).CompanionFor([.. ProxyDocument.Parse(config).Routes!]);
            command = $"printf 'PUT /state HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\nContent-Length: {Encoding.UTF8.GetByteCount(state)}\\r\\n\\r\\n%s' '{state}' | socat -t 5 - unix-connect:{NginxProxy.AdminSocket}";
        }
        else
        {
            command = $"printf '@1 set map {HaproxyProxy.MapPath} web_0/green 1.1.0\\n@1 set server web_0/green state ready\\n@1 set server web_0/blue state maint\\n' | socat -t 5 - unix-connect:{HaproxyProxy.MasterSocket}";
        }

        var result = await engine.ExecAsync(Proxy.Options.ContainerName, ["/bin/sh", "-c", command]);
        result.ExitCode.ShouldBe(0, result.Stderr);
    }

    private static (int Requests, List<string> Failures) Sum(IEnumerable<(int Requests, List<string> Failures)> runs) =>
        runs.Aggregate((0, new List<string>()), (sum, run) => (sum.Item1 + run.Requests, [.. sum.Item2, .. run.Failures]));

    private async Task<(int Requests, List<string> Failures)> HttpClientLoadAsync(string path, bool keepAlive, CancellationToken stop)
    {
        await Task.Yield();
        var failures = new List<string>();
        var requests = 0;
        using var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = Proxy.PublicUrl,
            Timeout = TimeSpan.FromSeconds(5),
        };
        while (!stop.IsCancellationRequested && requests < 20_000)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.ConnectionClose = !keepAlive;
            requests++;
            try
            {
                using var response = await client.SendAsync(request, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (response.StatusCode != HttpStatusCode.OK || body.Trim() is not ("blue" or "green"))
                {
                    failures.Add($"{(int)response.StatusCode} {body.Trim()}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                failures.Add($"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
            }
        }

        return (requests, failures);
    }

    /// <summary>One HTTP/1.1 connection kept open for request after request; a closed or reset connection is a failure (no retry).</summary>
    private async Task<(int Requests, List<string> Failures)> RawKeepAliveLoadAsync(string path, CancellationToken stop)
    {
        await Task.Yield();
        var failures = new List<string>();
        var requests = 0;
        var port = Proxy.PublicUrl.Port;
        var request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        TcpClient? tcp = null;
        try
        {
            while (!stop.IsCancellationRequested && requests < 20_000)
            {
                requests++;
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    if (tcp is null)
                    {
                        tcp = new TcpClient();
                        await tcp.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
                    }

                    var stream = tcp.GetStream();
                    await stream.WriteAsync(request, timeout.Token);
                    var (status, close, body) = await ReadResponseAsync(stream, timeout.Token);
                    if (status != 200 || body.Trim() is not ("blue" or "green"))
                    {
                        failures.Add($"{status} {body.Trim()}");
                    }

                    if (close)
                    {
                        tcp.Dispose();
                        tcp = null;
                    }
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException)
                {
                    failures.Add($"raw: {e.GetType().Name}: {e.Message}");
                    tcp?.Dispose();
                    tcp = null;
                }
            }
        }
        finally
        {
            tcp?.Dispose();
        }

        return (requests, failures);
    }

    private static async Task<(int Status, bool Close, string Body)> ReadResponseAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        var length = 0;
        int headerEnd;
        while ((headerEnd = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), ct);
            if (read == 0)
            {
                throw new IOException($"the proxy closed the connection after {length} bytes of the answer");
            }

            length += read;
        }

        var head = Encoding.ASCII.GetString(buffer, 0, headerEnd).Split("\r\n");
        var status = int.Parse(head[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = head.Skip(1).Select(h => h.Split(':', 2)).ToDictionary(h => h[0].Trim(), h => h[1].Trim(), StringComparer.OrdinalIgnoreCase);
        if (!headers.TryGetValue("Content-Length", out var contentLength))
        {
            throw new InvalidDataException($"answer without Content-Length: {head[0]}");
        }

        var bodyStart = headerEnd + 4;
        var total = bodyStart + int.Parse(contentLength, System.Globalization.CultureInfo.InvariantCulture);
        while (length < total)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length, total - length), ct);
            if (read == 0)
            {
                throw new IOException("the proxy closed the connection in the middle of the body");
            }

            length += read;
        }

        var close = headers.TryGetValue("Connection", out var connection) && connection.Equals("close", StringComparison.OrdinalIgnoreCase);
        return (status, close, Encoding.ASCII.GetString(buffer, bodyStart, total - bodyStart));
    }

    private async Task ExpectAsync(string path, string body, string color, string? service = null, string? version = null, string? host = null, HttpStatusCode status = HttpStatusCode.OK)
    {
        // A reload is asynchronous in the proxy; poll until the answer is the expected one or the deadline passes.
        var deadline = Stopwatch.StartNew();
        var last = "";
        while (deadline.Elapsed < SwitchDeadline)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            if (host is not null)
            {
                request.Headers.Host = host;
            }

            try
            {
                using var response = await http.SendAsync(request);
                var text = (await response.Content.ReadAsStringAsync()).Trim();
                var headers = Header(response, "X-Pipeline-Color") + "/" + Header(response, "X-Pipeline-Service") + "/" + Header(response, "X-Pipeline-Version");
                last = $"{(int)response.StatusCode} '{text}' {headers}";
                if (response.StatusCode == status && text == body && Header(response, "X-Pipeline-Color") == color
                    && (service is null || Header(response, "X-Pipeline-Service") == service)
                    && (version is null || Header(response, "X-Pipeline-Version") == version))
                {
                    return;
                }
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"GET {path}{(host is null ? "" : $" (Host {host})")} through {Proxy.PublicUrl} did not answer '{body}' with colour {color} within {SwitchDeadline.TotalSeconds} s; last answer: {last}");
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    private static ProxyRoute Route(string service, string prefix, string color, string version, UpstreamEndpoint upstream) =>
        new(service, prefix, null, color, version, [upstream]);

    private async Task<UpstreamEndpoint> StartUpstreamAsync(string name)
    {
        // busybox httpd answers with the file's content: its own name for / and "<name> api" for /api/.
        var id = await engine.CreateContainerAsync(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName($"proxy-{kind}-{name}"),
            Image = upstreamImage.ToString(),
            Command = ["/bin/sh", "-c", $"mkdir -p /www/api && echo {name} > /www/index.html && echo '{name} api' > /www/api/index.html && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"],
            Labels = new Dictionary<string, string>(testLabels) { ["pipeline.role"] = "test" },
            Network = network,
        });
        containers.Add(id);
        await engine.StartContainerAsync(id);
        var info = (await engine.InspectContainerAsync(id)).ShouldNotBeNull();
        return new UpstreamEndpoint(info.NetworkAddresses[network], 8080);
    }

    /// <summary>An upstream whose /cgi-bin/slow answers <paramref name="delay"/> after each request arrives (a busybox httpd CGI).</summary>
    private async Task<UpstreamEndpoint> StartSlowUpstreamAsync(TimeSpan delay)
    {
        var script = $"'#!/bin/sh' 'sleep {(int)delay.TotalSeconds}' 'echo Content-Type: text/plain' 'echo' 'echo slow'";
        var id = await engine.CreateContainerAsync(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName($"proxy-{kind}-slow"),
            Image = upstreamImage.ToString(),
            Command = ["/bin/sh", "-c", $"mkdir -p /www/cgi-bin && printf '%s\\n' {script} > /www/cgi-bin/slow && chmod +x /www/cgi-bin/slow && trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"],
            Labels = new Dictionary<string, string>(testLabels) { ["pipeline.role"] = "test" },
            Network = network,
        });
        containers.Add(id);
        await engine.StartContainerAsync(id);
        var info = (await engine.InspectContainerAsync(id)).ShouldNotBeNull();
        return new UpstreamEndpoint(info.NetworkAddresses[network], 8080);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

[TestFixture]
public sealed class NginxProxyContract() : ProxyContract("nginx")
{
    [Test]
    public async Task Should_Keep_Its_Request_Counts_Across_A_Reload()
    {
        // Given web on blue with 6 requests counted
        await Proxy.ApplyAsync(Proxy.Render([new ProxyRoute("web", "/", null, "blue", "1.0.0", [Blue])]));
        await SendAsync("/", 6, HttpStatusCode.OK);
        var counted = await RequestsCountedAsync("web");
        counted.ShouldBeGreaterThanOrEqualTo(6);
        var workers = await ProxyProcessesAsync();

        // When nginx reloads (new workers, same shared memory)
        await ReloadBehindTheAdaptersBackAsync();
        await SendAsync("/", 2, HttpStatusCode.OK);

        // Then the count went on from where it was
        (await ProxyProcessesAsync()).Except(workers).ShouldNotBeEmpty();
        (await RequestsCountedAsync("web")).ShouldBe(counted + 2);
    }

    [Test]
    public async Task Should_Count_Status_Classes_Unrouted_Requests_And_Each_Try_Per_Release_Address()
    {
        // Given web for host tries.test on blue, whose release is a closed port and Blue (round robin: every other request
        // tries the closed port first, then Blue)
        var closed = new UpstreamEndpoint(Green.Address, 1);
        await Proxy.ApplyAsync(Proxy.Render([new ProxyRoute("web", "/", "tries.test", "blue", "1.0.0", [closed, Blue])]));
        await SendAsync("/", 1, HttpStatusCode.OK, host: "tries.test");
        var before = await ScrapeAsync();

        // When 4 requests get an answer, 2 get the upstream's 404 and 3 match no route
        await SendAsync("/", 4, HttpStatusCode.OK, host: "tries.test");
        await SendAsync("/missing", 2, HttpStatusCode.NotFound, host: "tries.test");
        await SendAsync("/", 3, HttpStatusCode.ServiceUnavailable, host: "other.test");
        var after = await ScrapeAsync();

        // Then each is counted once, by route, colour and class; Blue answered all 6, and the closed port failed 3 tries
        double Counted(string name, Func<IReadOnlyDictionary<string, string>, bool> where) =>
            PrometheusText.Sum(after, name, where) - PrometheusText.Sum(before, name, where);
        bool Web(IReadOnlyDictionary<string, string> l, string code) => l["route"] == "web_0" && l["service"] == "web" && l["color"] == "blue" && l["code"] == code;
        Counted("pipeline_route_requests_total", l => Web(l, "2xx")).ShouldBe(4);
        Counted("pipeline_route_requests_total", l => Web(l, "4xx")).ShouldBe(2);
        Counted("pipeline_unrouted_requests_total", l => l["code"] == "5xx").ShouldBe(3);
        Counted("pipeline_upstream_tries_total", l => l["route"] == "web_0" && l["color"] == "blue" && l["address"] == $"{closed.Address}:1" && l["outcome"] == "failed").ShouldBe(3);
        Counted("pipeline_upstream_tries_total", l => l["route"] == "web_0" && l["color"] == "blue" && l["address"] == $"{Blue.Address}:{Blue.Port}" && l["outcome"] == "answered").ShouldBe(6);
        Counted("pipeline_upstream_tries_total", l => l["address"] == $"{Blue.Address}:{Blue.Port}" && l["outcome"] == "failed").ShouldBe(0);
    }
}

[TestFixture]
public sealed class HaproxyProxyContract() : ProxyContract("haproxy")
{
    [Test]
    public async Task Should_Count_An_Old_Worker_Holding_A_Client_Connection_As_A_Request_In_Flight()
    {
        // Given blue live and a client that made a request and keeps its connection open
        var web = new ProxyRoute("web", "/", null, "blue", "1.0.0", [Blue]);
        await Proxy.ApplyAsync(Proxy.Render([web]));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Proxy.PublicUrl.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        var answer = new byte[4096];
        (await stream.ReadAsync(answer)).ShouldBeGreaterThan(0);
        (await Proxy.InFlightAsync("web", "blue")).ShouldBe(0);

        // When a route is added (a reload: the old worker keeps that connection, and would send its next request by the old routes)
        (await Proxy.ApplyAsync(Proxy.Render([web, new ProxyRoute("api", "/api/", null, "green", "1.0.0", [Green])]))).ShouldBe(ProxyChange.Reload);

        // Then blue is not drained while the old worker holds it, and is once the client has gone
        (await Proxy.InFlightAsync("web", "blue")).ShouldBe(1);
        client.Dispose();
        var deadline = Stopwatch.StartNew();
        while (await Proxy.InFlightAsync("web", "blue") != 0)
        {
            deadline.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20), "the old worker still counts after its client left");
            await Task.Delay(200);
        }
    }
}
