using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.Bench;

/// <summary>One request that did not get a 2xx answer.</summary>
/// <param name="AtMs">Milliseconds since the load started.</param>
/// <param name="Client">keep-alive or close.</param>
/// <param name="Reason">HTTP status or the transport error.</param>
/// <param name="RequestId">The request's <c>X-Request-Id</c> (client and sequence number), to find it in a captured proxy log.</param>
/// <param name="At">Wall-clock time of the failure (UTC), to line it up with proxy and engine logs.</param>
/// <param name="LocalPort">The client's local port (0 when the connection was never made).</param>
internal sealed record LoadFailure(double AtMs, string Client, string Reason, string RequestId = "", DateTimeOffset At = default, int LocalPort = 0);

/// <summary>What the load generator saw.</summary>
internal sealed record LoadResult(
    long Requests,
    long Failed,
    long KeepAliveRequests,
    long KeepAliveFailed,
    long CloseRequests,
    long CloseFailed,
    double Seconds,
    IReadOnlyList<LoadFailure> FirstFailures);

/// <summary>
/// Sustained HTTP load on 127.0.0.1 from raw sockets: <c>keepAlive</c> clients that reuse one connection (and
/// reconnect only after a response that says <c>Connection: close</c> or an error) and <c>close</c> clients that
/// open a connection per request with <c>Connection: close</c>. Each client sends its next request
/// <c>interval</c> after the previous answer. Nothing is retried: a request that gets no whole 2xx response
/// within the timeout — refused, reset, closed under it, non-2xx — counts as failed.
/// </summary>
internal sealed class LoadGenerator : IAsyncDisposable
{
    private const int MaxRecordedFailures = 50;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _clients = [];
    private readonly List<LoadFailure> _failures = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly IPEndPoint _target;
    private readonly int _port;
    private readonly string _path;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _timeout;
    private long _keepAliveRequests;
    private long _keepAliveFailed;
    private long _closeRequests;
    private long _closeFailed;
    private LoadResult? _result;

    private LoadGenerator(int port, string path, TimeSpan interval, TimeSpan timeout)
    {
        _target = new IPEndPoint(IPAddress.Loopback, port);
        _port = port;
        _path = path;
        _interval = interval;
        _timeout = timeout;
    }

    /// <summary>Seconds since the load started (failure times are on this clock).</summary>
    public double ElapsedSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Starts the clients; they run until <see cref="StopAsync"/>.</summary>
    public static LoadGenerator Start(int port, string path, int keepAliveClients, int closeClients, TimeSpan interval, TimeSpan? timeout = null)
    {
        var load = new LoadGenerator(port, path, interval, timeout ?? TimeSpan.FromSeconds(10));
        for (var i = 0; i < keepAliveClients; i++)
        {
            var client = $"k{i}";
            load._clients.Add(Task.Run(() => load.KeepAliveClientAsync(client)));
        }

        for (var i = 0; i < closeClients; i++)
        {
            var client = $"c{i}";
            load._clients.Add(Task.Run(() => load.CloseClientAsync(client)));
        }

        return load;
    }

    /// <summary>Stops the clients (each finishes the request in flight) and returns the counts.</summary>
    public async Task<LoadResult> StopAsync()
    {
        if (_result is not null)
        {
            return _result;
        }

        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
        lock (_failures)
        {
            _result = new LoadResult(
                _keepAliveRequests + _closeRequests,
                _keepAliveFailed + _closeFailed,
                _keepAliveRequests,
                _keepAliveFailed,
                _closeRequests,
                _closeFailed,
                _clock.Elapsed.TotalSeconds,
                [.. _failures]);
        }

        return _result;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task KeepAliveClientAsync(string client)
    {
        Socket? socket = null;
        HttpResponseReader? reader = null;
        var sequence = 0;
        while (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _keepAliveRequests);
            var id = $"{client}-{++sequence}";
            using var deadline = new CancellationTokenSource(_timeout);
            try
            {
                if (socket is null)
                {
                    socket = await ConnectAsync(deadline.Token);
                    reader = new HttpResponseReader(new NetworkStream(socket, ownsSocket: false));
                }

                await socket.SendAsync(Request(id, close: false), SocketFlags.None, deadline.Token);
                var response = await reader!.ReadAsync(deadline.Token);
                if (response.Status is < 200 or >= 300)
                {
                    Fail("keep-alive", $"HTTP {response.Status}", id, socket, ref _keepAliveFailed);
                }

                if (response.ConnectionClose)
                {
                    Close(ref socket);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException)
            {
                Fail("keep-alive", Describe(e, deadline), id, socket, ref _keepAliveFailed);
                Close(ref socket);
            }

            await PauseAsync();
        }

        Close(ref socket);
    }

    private async Task CloseClientAsync(string client)
    {
        var sequence = 0;
        while (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _closeRequests);
            var id = $"{client}-{++sequence}";
            using var deadline = new CancellationTokenSource(_timeout);
            Socket? socket = null;
            try
            {
                socket = await ConnectAsync(deadline.Token);
                await socket.SendAsync(Request(id, close: true), SocketFlags.None, deadline.Token);
                var response = await new HttpResponseReader(new NetworkStream(socket, ownsSocket: false)).ReadAsync(deadline.Token);
                if (response.Status is < 200 or >= 300)
                {
                    Fail("close", $"HTTP {response.Status}", id, socket, ref _closeFailed);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException)
            {
                Fail("close", Describe(e, deadline), id, socket, ref _closeFailed);
            }
            finally
            {
                Close(ref socket);
            }

            await PauseAsync();
        }
    }

    private async Task<Socket> ConnectAsync(CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_target, ct);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task PauseAsync()
    {
        try
        {
            await Task.Delay(_interval, _stop.Token);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void Fail(string client, string reason, string requestId, Socket? socket, ref long counter)
    {
        Interlocked.Increment(ref counter);
        var localPort = 0;
        try
        {
            localPort = (socket?.LocalEndPoint as IPEndPoint)?.Port ?? 0;
        }
        catch (ObjectDisposedException)
        {
            // Closed already: the port is unknown.
        }

        lock (_failures)
        {
            if (_failures.Count < MaxRecordedFailures)
            {
                _failures.Add(new LoadFailure(Math.Round(_clock.Elapsed.TotalMilliseconds, 1), client, reason, requestId, DateTimeOffset.UtcNow, localPort));
            }
        }
    }

    private string Describe(Exception e, CancellationTokenSource deadline) => e switch
    {
        OperationCanceledException when deadline.IsCancellationRequested => $"no whole answer within {_timeout.TotalSeconds:0} s",
        SocketException s => $"socket: {s.SocketErrorCode}",
        IOException { InnerException: SocketException s } => $"socket: {s.SocketErrorCode}",
        _ => e.Message,
    };

    private static void Close(ref Socket? socket)
    {
        socket?.Dispose();
        socket = null;
    }

    private byte[] Request(string id, bool close) => Encoding.ASCII.GetBytes(
        $"GET {_path} HTTP/1.1\r\nHost: 127.0.0.1:{_port}\r\nUser-Agent: pipeline-bench\r\nX-Request-Id: {id}\r\n{(close ? "Connection: close\r\n" : "")}\r\n");
}
