using System.Net;
using System.Net.Sockets;
using System.Text;
using Pipeline.Bench;

namespace Pipeline.Tests.Bench;

public sealed class StatisticsTests
{
    [TestCase(50, 50)]
    [TestCase(99, 99)]
    [TestCase(100, 100)]
    [TestCase(1, 1)]
    public void Should_Give_The_Nearest_Rank_Percentile_Of_1_To_100(double p, double expected)
    {
        // Given the samples 100, 99, …, 1 in no particular order
        var samples = Enumerable.Range(1, 100).Select(i => (double)i).Reverse();

        // When the percentile is taken / Then it is the nearest-rank sample
        Statistics.Percentile(samples, p).ShouldBe(expected);
    }

    [Test]
    public void Should_Give_The_Largest_Sample_As_P99_When_There_Are_Fewer_Than_100()
    {
        // Given 20 switch latencies, one slow
        var samples = Enumerable.Repeat(40.0, 19).Append(900.0);

        // When / Then: p99 of 20 samples is the 20th (the slow one), p50 the 10th
        Statistics.Percentile(samples, 99).ShouldBe(900);
        Statistics.Median(samples).ShouldBe(40);
        Statistics.Max(samples).ShouldBe(900);
    }

    [Test]
    public void Should_Give_Null_When_There_Are_No_Samples()
    {
        Statistics.Percentile([], 99).ShouldBeNull();
        Statistics.Max([]).ShouldBeNull();
    }

    [TestCase(0)]
    [TestCase(101)]
    public void Should_Refuse_A_Percentile_Outside_0_To_100(double p) =>
        Should.Throw<ArgumentOutOfRangeException>(() => Statistics.Percentile([1.0], p));
}

public sealed class BenchReportTests
{
    [Test]
    [SetCulture("de-DE")]
    public void Should_Print_The_Summary_Line_In_The_Issue_Format_Whatever_The_Culture()
    {
        // Given the default proxy's figures (and a culture with a decimal comma)
        var figures = new ProxyFigures { Proxy = "haproxy", Requests = 61234, Failed = 0, SwitchP99Ms = 1487.6, RollbackMaxMs = 1902.2, OverheadRatio = 1.456, Config1000Ms = 1523.4 };

        // When the summary line is made
        var line = BenchReport.SummaryLine(figures);

        // Then it has exactly the issue's form, rounded, with a decimal point
        line.ShouldBe("bench: requests=61234 failed=0 switch_p99_ms=1488 rollback_max_ms=1902 overhead_ratio=1.46 config1000_ms=1523");
        line.ShouldMatch(@"\Abench: requests=\d+ failed=\d+ switch_p99_ms=\d+ rollback_max_ms=\d+ overhead_ratio=\d+\.\d\d config1000_ms=\d+\z");
    }

    [Test]
    public void Should_Say_NA_For_A_Figure_That_Was_Not_Measured()
    {
        // Given a run with --rollbacks=0 and --baseline=false
        var figures = new ProxyFigures { Proxy = "nginx", Requests = 10, Failed = 2, SwitchP99Ms = 300 };

        // When / Then
        BenchReport.SummaryLine(figures).ShouldBe("bench: requests=10 failed=2 switch_p99_ms=300 rollback_max_ms=n/a overhead_ratio=n/a config1000_ms=n/a");
    }

    [Test]
    public void Should_Name_Each_Missed_Aim_With_Its_Figure()
    {
        // Given HAProxy figures that miss the switch aim only
        var report = Report(new ProxyFigures { Proxy = "haproxy", Requests = 100_000, Failed = 0, SwitchP99Ms = 1200, RollbackMaxMs = 900, OverheadRatio = 0.7, Config1000Ms = 800, RouteAddedFailed = 0 });

        // When the aims are checked
        var notes = BenchAims.Notes(report).ToList();

        // Then exactly the switch aim is missed, with the measured figure
        notes.Where(n => n.StartsWith("aim MISSED", StringComparison.Ordinal)).ShouldBe(["aim MISSED: haproxy: switch p99 <= 100 ms (got 1200 ms)"]);
        notes.Count.ShouldBe(7);
    }

    [Test]
    public void Should_Miss_The_Overhead_Aim_Just_Above_0_8_Without_Rounding_It_Away()
    {
        // Given a ratio of 0.803 (2.23 / 2.78 s), which two decimals would show as 0.80
        var report = Report(new ProxyFigures { Proxy = "haproxy", Requests = 100_000, OverheadRatio = 0.803 });

        // When the aims are checked
        var notes = BenchAims.Notes(report).ToList();

        // Then it is missed, and the figure says why
        notes.ShouldContain("aim MISSED: haproxy: overhead ratio <= 0.8 (got 0.803)");
    }

    [Test]
    public void Should_Miss_The_Total_Requests_Aim_Below_100000_Requests_Over_Both_Proxies()
    {
        // Given 99,999 requests over the two proxies
        var report = Report(new ProxyFigures { Proxy = "haproxy", Requests = 50_000 }, new ProxyFigures { Proxy = "nginx", Requests = 49_999 });

        // When the aims are checked
        var notes = BenchAims.Notes(report).ToList();

        // Then the total is missed, with the count
        notes.ShouldContain("aim MISSED: at least 100,000 requests in total (got 99,999 over haproxy and nginx)");
    }

    [Test]
    public void Should_Show_One_Column_Per_Proxy_In_The_Table()
    {
        var report = Report(new ProxyFigures { Proxy = "haproxy", Requests = 100, Failed = 0 }, new ProxyFigures { Proxy = "nginx", Requests = 90, Failed = 7 });

        var table = report.Table().Split('\n');

        table[0].ShouldMatch(@"\A\s+haproxy\s+nginx\z");
        table.ShouldContain(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\Arequests failed\s+0\s+7\z"));
    }

    private static BenchReport Report(params ProxyFigures[] proxies) => new()
    {
        Command = "./build.sh --target=Bench",
        StartedAt = DateTimeOffset.UnixEpoch,
        WallSeconds = 1,
        Machine = "test",
        LoadClient = "raw sockets",
        DefaultProxy = proxies[0].Proxy,
        DeploysPerProxy = 20,
        RollbacksPerProxy = 5,
        KeepAliveConnections = 16,
        CloseConnections = 4,
        RequestIntervalMs = 50,
        Proxies = proxies,
    };
}

public sealed class BenchOptionsTests
{
    [Test]
    public void Should_Default_To_The_Issue_Figures_When_No_Option_Is_Given()
    {
        var options = BenchOptions.Parse(_ => null);

        options.Deploys.ShouldBe(20);
        options.Rollbacks.ShouldBe(5);
        options.Connections.ShouldBe(16);
        options.Interval.ShouldBe(TimeSpan.FromMilliseconds(40));
        options.ConcurrentServices.ShouldBe(10);
        options.Proxies.ShouldBe(["haproxy", "nginx"]);
        options.CaptureProxyLog.ShouldBeFalse();
        options.HttpsConnections.ShouldBe(4);
        options.RouteAdded.ShouldBeTrue();
        options.ListenBacklog.ShouldBe(128);
    }

    [Test]
    public void Should_Read_A_Short_Run_From_The_Options()
    {
        var given = new Dictionary<string, string> { ["deploys"] = "3", ["rollbacks"] = "1", ["connections"] = "8", ["proxy"] = "nginx", ["baseline"] = "false", ["capture-proxy-log"] = "true", ["https-connections"] = "0", ["route-added"] = "false", ["listen-backlog"] = "0" };

        var options = BenchOptions.Parse(given.GetValueOrDefault);

        (options.Deploys, options.Rollbacks, options.Connections, options.Baseline, options.CaptureProxyLog).ShouldBe((3, 1, 8, false, true));
        (options.HttpsConnections, options.RouteAdded, options.ListenBacklog).ShouldBe((0, false, 0));
        options.Proxies.ShouldBe(["nginx"]);
    }

    [TestCase("proxy", "traefik", "--proxy=traefik: use haproxy, nginx or all.")]
    [TestCase("deploys", "0", "--deploys=0: expected a whole number from 1 to 1000.")]
    [TestCase("services", "51", "--services=51: expected a whole number from 0 to 50.")]
    [TestCase("rollbacks", "-1", "--rollbacks=-1: expected a whole number from 0 to 1000.")]
    [TestCase("listen-backlog", "4097", "--listen-backlog=4097: expected a whole number from 0 to 4096.")]
    [TestCase("capture-proxy-log", "maybe", "--capture-proxy-log=maybe: use true or false.")]
    public void Should_Name_The_Bad_Option(string name, string value, string message)
    {
        var error = Should.Throw<ArgumentException>(() => BenchOptions.Parse(n => n == name ? value : null));

        error.Message.ShouldBe(message);
    }

    [TestCase(20, 5)]
    [TestCase(2, 1)]
    [TestCase(1, 3)]
    [TestCase(5, 0)]
    public void Should_Spread_The_Rollbacks_Among_The_Deploys(int deploys, int rollbacks)
    {
        var plan = BenchOptions.Schedule(deploys, rollbacks);

        plan.Count.ShouldBe(deploys + rollbacks);
        plan.Count(r => r).ShouldBe(rollbacks);
        if (deploys >= rollbacks && rollbacks > 0)
        {
            plan[0].ShouldBeFalse("the first run after the warm-up is a deploy");
        }
    }
}

public sealed class HttpResponseReaderTests
{
    [Test]
    public async Task Should_Read_Keep_Alive_Responses_One_After_The_Other()
    {
        // Given a connection carrying a Content-Length response, a chunked one and a closing one
        var reader = Reader(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Pipeline-Color: blue\r\n\r\nhello" +
            "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n" +
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nConnection: close\r\nx-pipeline-color: green\r\n\r\nok");

        // When they are read / Then each is whole and in order
        (await reader.ReadAsync()).ShouldBe(new HttpResponseHead(200, false, "blue", 5));
        (await reader.ReadAsync()).ShouldBe(new HttpResponseHead(503, false, null, 5));
        (await reader.ReadAsync()).ShouldBe(new HttpResponseHead(200, true, "green", 2));
    }

    [Test]
    public async Task Should_Treat_An_Http10_Response_Without_Length_As_Closing_And_Read_To_The_End()
    {
        var reader = Reader("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nbody until close");

        (await reader.ReadAsync()).ShouldBe(new HttpResponseHead(200, true, null, 16));
    }

    [Test]
    public async Task Should_Fail_When_The_Connection_Closes_Before_Any_Byte()
    {
        var error = await Should.ThrowAsync<TruncatedResponseException>(() => Reader("").ReadAsync());

        error.Message.ShouldBe("connection closed before any byte of the response");
    }

    [Test]
    public async Task Should_Fail_When_The_Body_Is_Cut_Short()
    {
        var error = await Should.ThrowAsync<TruncatedResponseException>(() => Reader("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf").ReadAsync());

        error.Message.ShouldBe("connection closed with 6 body bytes missing");
    }

    [Test]
    public async Task Should_Refuse_Something_That_Is_Not_Http()
    {
        var error = await Should.ThrowAsync<InvalidDataException>(() => Reader("SSH-2.0-OpenSSH\r\n\r\n").ReadAsync());

        error.Message.ShouldBe("not an HTTP/1.x status line: 'SSH-2.0-OpenSSH'");
    }

    private static HttpResponseReader Reader(string wire) => new(new MemoryStream(Encoding.ASCII.GetBytes(wire)));
}

public sealed class LoadGeneratorTests
{
    [Test]
    public async Task Should_Count_A_Request_Whose_Keep_Alive_Connection_Is_Closed_Under_It_And_Not_Retry()
    {
        // Given a server on 127.0.0.1 that answers the first request on each connection, then reads the second
        // and closes without answering (what an nginx reload does to idle keep-alive connections)
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var requestsSeen = 0;
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            // Runs until stopped: a connection the client closes (as it does when the load stops, at any point of
            // this exchange) ends that connection only, so the server task ends by cancellation alone.
            while (true)
            {
                stop.Token.ThrowIfCancellationRequested();
                using var client = await listener.AcceptTcpClientAsync(stop.Token);
                try
                {
                    var stream = client.GetStream();
                    await ReadRequestAsync(stream, stop.Token);
                    Interlocked.Increment(ref requestsSeen);
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray(), stop.Token);
                    await ReadRequestAsync(stream, stop.Token);
                    Interlocked.Increment(ref requestsSeen);
                }
                catch (IOException)
                {
                    // The client closed or reset this connection.
                }
            }
        });

        // When one keep-alive client sends requests until the server has seen at least 6
        var load = LoadGenerator.Start(port, "/", keepAliveClients: 1, closeClients: 0, TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(5));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref requestsSeen) < 6 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        var result = await load.StopAsync();
        await stop.CancelAsync();
        listener.Stop();
        await Should.ThrowAsync<OperationCanceledException>(() => server);

        // Then every second request failed, each was sent once (no retry), and the failure says why
        result.Requests.ShouldBeGreaterThanOrEqualTo(6);
        result.Failed.ShouldBeInRange(result.Requests / 2 - 1, result.Requests / 2 + 1);
        result.KeepAliveFailed.ShouldBe(result.Failed);
        result.FirstFailures[0].Reason.ShouldBe("connection closed before any byte of the response");
        Volatile.Read(ref requestsSeen).ShouldBeInRange((int)result.Requests - 1, (int)result.Requests);
    }

    [TestCase(true, 0)]
    [TestCase(false, 1)]
    public async Task Should_Send_Https_Requests_Trusting_Only_The_Given_CA(bool trustTheServer, int failedPerRequest)
    {
        // Given a TLS server on 127.0.0.1 with a generated certificate, answering every request on a kept-alive connection
        var certificate = Pipeline.Proxy.ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1));
        var other = Pipeline.Proxy.ProxyCertificate.CreateSelfSigned(["127.0.0.1"], TimeSpan.FromDays(1));
        using var serverCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(certificate.CertificatePem, certificate.KeyPem);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var connections = 0;
        var answered = 0;
        var server = Task.Run(async () =>
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(stop.Token);
                Interlocked.Increment(ref connections);
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        try
                        {
                            await using var tls = new System.Net.Security.SslStream(client.GetStream());
                            await tls.AuthenticateAsServerAsync(serverCertificate);
                            while (true)
                            {
                                await ReadRequestAsync(tls, stop.Token);
                                await tls.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray(), stop.Token);
                                Interlocked.Increment(ref answered);
                            }
                        }
                        catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                        {
                            // The client closed, stopped, or refused the certificate.
                        }
                    }
                });
            }
        });

        // When one HTTPS keep-alive client (and no plain one) sends requests until a few were answered, or a few
        // connections were tried
        var load = LoadGenerator.Start(port, "/", 0, 0, TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(5),
            new HttpsLoad(port, trustTheServer ? certificate.CaPem : other.CaPem, KeepAliveClients: 1, CloseClients: 0));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Volatile.Read(ref answered) < 3 && Volatile.Read(ref connections) < 4 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        var result = await load.StopAsync();
        await stop.CancelAsync();
        listener.Stop();
        await Should.ThrowAsync<OperationCanceledException>(() => server);

        // Then the requests went over TLS, and failed only when the server's CA was not the trusted one
        result.HttpsRequests.ShouldBe(result.Requests);
        result.Requests.ShouldBeGreaterThan(2);
        result.HttpsFailed.ShouldBe(result.Requests * failedPerRequest);
        if (!trustTheServer)
        {
            result.FirstFailures[0].Reason.ShouldStartWith("TLS: ");
        }
    }

    private static async Task ReadRequestAsync(Stream stream, CancellationToken ct)
    {
        var seen = new StringBuilder();
        var buffer = new byte[1024];
        while (!seen.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer, ct);
            if (n == 0)
            {
                throw new IOException("client closed");
            }

            seen.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
    }
}
