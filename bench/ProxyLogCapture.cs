using System.Diagnostics;
using System.Text;
using Pipeline.Docker;

namespace Pipeline.Bench;

/// <summary>
/// <c>--capture-proxy-log</c>: the proxy logs every request (HAProxy: termination state, timers, server, status,
/// retries; nginx: upstream, statuses, times) with the load client's <c>X-Request-Id</c>, and the engine's events
/// are recorded beside it, so a failed request can be found in both. Writes
/// <c>artifacts/bench/proxy-log-{kind}-{id}.txt</c> and <c>engine-events-{kind}-{id}.jsonl</c>.
/// </summary>
internal sealed class ProxyLogCapture : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly StreamWriter _log;
    private readonly Task _logs;
    private readonly Process? _events;

    private ProxyLogCapture(IDockerEngine engine, string container, string logFile, string eventsFile)
    {
        LogFile = logFile;
        EventsFile = eventsFile;
        _log = new StreamWriter(logFile, append: false, Encoding.UTF8) { AutoFlush = true };
        _logs = Task.Run(async () =>
        {
            try
            {
                await engine.StreamLogsAsync(container, line => { lock (_log) { _log.WriteLine(line); } }, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or DockerEngineException)
            {
                // Stopped, or the container went away: what was read is in the file.
            }
        });
        var start = new ProcessStartInfo("docker", ["events", "--format", "{{json .}}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _events = Process.Start(start);
        if (_events is not null)
        {
            var writer = new StreamWriter(eventsFile, append: false, Encoding.UTF8) { AutoFlush = true };
            _events.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    lock (writer)
                    {
                        writer.WriteLine($"{{\"seenAt\":\"{DateTimeOffset.UtcNow:O}\",\"event\":{line}}}");
                    }
                }
            };
            _events.Exited += (_, _) => writer.Dispose();
            _events.EnableRaisingEvents = true;
            _events.BeginOutputReadLine();
        }
    }

    public string LogFile { get; }

    public string EventsFile { get; }

    /// <summary>A copy of the repo's built-in template for <paramref name="kind"/> that logs every request; returns its path.</summary>
    public static string WriteTemplate(string kind, string repositoryRoot, string directory, string id)
    {
        var (name, edits) = kind switch
        {
            "haproxy" => ("haproxy.cfg.liquid", new[]
            {
                ("    log stderr format raw local0 warning\n", "    log stdout format raw local0 info\n"),
                ("    bind :{{ port }}\n",
                    "    bind :{{ port }}\n" +
                    "    http-request capture req.hdr(X-Request-Id) len 40\n" +
                    "    log-format \"%tr pid=%pid %ci:%cp %ft %b/%s=%si:%sp TR=%TR Tw=%Tw Tc=%Tc Tr=%Tr Ta=%Ta st=%ST bytes=%B term=%tsc conns=%ac/%fc/%bc/%sc/%rc queue=%sq/%bq id=%hr %{+Q}r\"\n"),
            }),
            "nginx" => ("nginx.conf.liquid", new[]
            {
                ("error_log stderr warn;\n", "error_log stderr info;\n"),
                ("    access_log off;\n",
                    "    log_format bench '$time_iso8601 $msec $remote_addr:$remote_port conn=$connection/$connection_requests \"$request\" st=$status " +
                    "bytes=$body_bytes_sent up=$upstream_addr ust=$upstream_status rt=$request_time uct=$upstream_connect_time urt=$upstream_response_time " +
                    "id={$http_x_request_id}';\n    access_log /dev/stdout bench;\n"),
            }),
            _ => throw new ArgumentException($"no log capture for proxy kind {kind}", nameof(kind)),
        };
        var text = File.ReadAllText(Path.Combine(repositoryRoot, "src", "Pipeline", "Proxy", "Templates", name)).ReplaceLineEndings("\n");
        foreach (var (anchor, replacement) in edits)
        {
            if (!text.Contains(anchor, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"--capture-proxy-log: the built-in {kind} template no longer contains '{anchor.Trim()}'; update ProxyLogCapture.");
            }

            text = text.Replace(anchor, replacement, StringComparison.Ordinal);
        }

        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"proxy-template-{kind}-{id}.liquid");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Starts following the proxy container's log and the engine's events.</summary>
    public static ProxyLogCapture Start(IDockerEngine engine, string container, string artifacts, string kind, string id)
    {
        Directory.CreateDirectory(artifacts);
        return new ProxyLogCapture(
            engine,
            container,
            Path.Combine(artifacts, $"proxy-log-{kind}-{id}.txt"),
            Path.Combine(artifacts, $"engine-events-{kind}-{id}.jsonl"));
    }

    /// <summary>The captured log lines that carry a request's id (<c>{k3-17}</c>), or none.</summary>
    public IReadOnlyList<string> LinesFor(string requestId)
    {
        lock (_log)
        {
            _log.Flush();
        }

        var needle = "{" + requestId + "}";
        using var stream = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(needle, StringComparison.Ordinal))
            {
                lines.Add(line);
            }
        }

        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _logs;
        if (_events is { HasExited: false })
        {
            _events.Kill();
            await _events.WaitForExitAsync();
        }

        _events?.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }

        _stop.Dispose();
    }
}
