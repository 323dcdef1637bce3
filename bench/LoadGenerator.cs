using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
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
    IReadOnlyList<LoadFailure> FirstFailures)
{
    /// <summary>Requests sent over HTTPS (also counted in the keep-alive and close figures).</summary>
    public long HttpsRequests { get; init; }

    /// <summary>HTTPS requests that failed.</summary>
    public long HttpsFailed { get; init; }
}

/// <summary>HTTPS clients beside the plain ones: the proxy's HTTPS port and the CA (PEM) they trust, nothing else.</summary>
internal sealed record HttpsLoad(int Port, string CaPem, int KeepAliveClients, int CloseClients);

/// <summary>
/// Sustained HTTP load on a proxy (127.0.0.1, or the test swarm's manager) from raw sockets: <c>keepAlive</c> clients that reuse one connection (and
/// reconnect only after a response that says <c>Connection: close</c> or an error) and <c>close</c> clients that
/// open a connection per request with <c>Connection: close</c>, optionally the same over TLS (<see cref="HttpsLoad"/>).
/// Each client sends its next request <c>interval</c> after the previous answer. Nothing is retried: a request that gets
/// no whole 2xx response within the timeout — refused, reset, closed under it, a failed handshake, non-2xx — counts as failed.
/// </summary>
internal sealed class LoadGenerator : IAsyncDisposable
{
    private const int MaxRecordedFailures = 50;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _clients = [];
    private readonly List<LoadFailure> _failures = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly int _port;
    private readonly IPAddress _address;
    private readonly string _path;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _timeout;
    private readonly HttpsLoad? _https;
    private readonly X509Certificate2? _ca;
    private long _keepAliveRequests;
    private long _keepAliveFailed;
    private long _closeRequests;
    private long _closeFailed;
    private long _httpsRequests;
    private long _httpsFailed;
    private LoadResult? _result;

    private LoadGenerator(int port, string path, TimeSpan interval, TimeSpan timeout, HttpsLoad? https, IPAddress address)
    {
        _port = port;
        _path = path;
        _address = address;
        _interval = interval;
        _timeout = timeout;
        _https = https;
        _ca = https is null ? null : X509Certificate2.CreateFromPem(https.CaPem);
    }

    /// <summary>Seconds since the load started (failure times are on this clock).</summary>
    public double ElapsedSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>Starts the clients; they run until <see cref="StopAsync"/>.</summary>
    public static LoadGenerator Start(int port, string path, int keepAliveClients, int closeClients, TimeSpan interval, TimeSpan? timeout = null, HttpsLoad? https = null, IPAddress? address = null)
    {
        var load = new LoadGenerator(port, path, interval, timeout ?? TimeSpan.FromSeconds(10), https, address ?? IPAddress.Loopback);
        for (var i = 0; i < keepAliveClients; i++)
        {
            var client = $"k{i}";
            load._clients.Add(Task.Run(() => load.KeepAliveClientAsync(client, secure: false)));
        }

        for (var i = 0; i < closeClients; i++)
        {
            var client = $"c{i}";
            load._clients.Add(Task.Run(() => load.CloseClientAsync(client, secure: false)));
        }

        for (var i = 0; i < (https?.KeepAliveClients ?? 0); i++)
        {
            var client = $"sk{i}";
            load._clients.Add(Task.Run(() => load.KeepAliveClientAsync(client, secure: true)));
        }

        for (var i = 0; i < (https?.CloseClients ?? 0); i++)
        {
            var client = $"sc{i}";
            load._clients.Add(Task.Run(() => load.CloseClientAsync(client, secure: true)));
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
                [.. _failures])
            {
                HttpsRequests = _httpsRequests,
                HttpsFailed = _httpsFailed,
            };
        }

        return _result;
    }

    /// <summary>Failed requests so far (to count those of one window of time).</summary>
    public long FailedSoFar => Interlocked.Read(ref _keepAliveFailed) + Interlocked.Read(ref _closeFailed);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _ca?.Dispose();
    }

    private async Task KeepAliveClientAsync(string client, bool secure)
    {
        Connection? connection = null;
        var sequence = 0;
        var kind = secure ? "https keep-alive" : "keep-alive";
        while (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _keepAliveRequests);
            Count(secure);
            var id = $"{client}-{++sequence}";
            using var deadline = new CancellationTokenSource(_timeout);
            try
            {
                connection ??= await ConnectAsync(secure, deadline.Token);
                await connection.Stream.WriteAsync(Request(id, close: false, secure), deadline.Token);
                var response = await connection.Reader.ReadAsync(deadline.Token);
                if (response.Status is < 200 or >= 300)
                {
                    Fail(kind, $"HTTP {response.Status}", id, connection, secure, ref _keepAliveFailed);
                }

                if (response.ConnectionClose)
                {
                    Close(ref connection);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException or AuthenticationException)
            {
                Fail(kind, Describe(e, deadline), id, connection, secure, ref _keepAliveFailed);
                Close(ref connection);
            }

            await PauseAsync();
        }

        Close(ref connection);
    }

    private async Task CloseClientAsync(string client, bool secure)
    {
        var sequence = 0;
        var kind = secure ? "https close" : "close";
        while (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _closeRequests);
            Count(secure);
            var id = $"{client}-{++sequence}";
            using var deadline = new CancellationTokenSource(_timeout);
            Connection? connection = null;
            try
            {
                connection = await ConnectAsync(secure, deadline.Token);
                await connection.Stream.WriteAsync(Request(id, close: true, secure), deadline.Token);
                var response = await connection.Reader.ReadAsync(deadline.Token);
                if (response.Status is < 200 or >= 300)
                {
                    Fail(kind, $"HTTP {response.Status}", id, connection, secure, ref _closeFailed);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException or AuthenticationException)
            {
                Fail(kind, Describe(e, deadline), id, connection, secure, ref _closeFailed);
            }
            finally
            {
                Close(ref connection);
            }

            await PauseAsync();
        }
    }

    private void Count(bool secure)
    {
        if (secure)
        {
            Interlocked.Increment(ref _httpsRequests);
        }
    }

    private async Task<Connection> ConnectAsync(bool secure, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(_address, secure ? _https!.Port : _port), ct);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (secure)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, Trusted);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1" }, ct);
                stream = tls;
            }

            return new Connection(socket, stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Accepts the server's certificate only when it chains to the given CA.</summary>
    private bool Trusted(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || _ca is null)
        {
            return false;
        }

        using var server = new X509Certificate2(certificate);
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.CustomTrustStore.Add(_ca);
        return custom.Build(server);
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

    private void Fail(string client, string reason, string requestId, Connection? connection, bool secure, ref long counter)
    {
        Interlocked.Increment(ref counter);
        if (secure)
        {
            Interlocked.Increment(ref _httpsFailed);
        }

        var localPort = 0;
        try
        {
            localPort = (connection?.Socket.LocalEndPoint as IPEndPoint)?.Port ?? 0;
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
        AuthenticationException a => $"TLS: {a.Message}",
        _ => e.Message,
    };

    private static void Close(ref Connection? connection)
    {
        connection?.Dispose();
        connection = null;
    }

    private byte[] Request(string id, bool close, bool secure) => Encoding.ASCII.GetBytes(
        $"GET {_path} HTTP/1.1\r\nHost: {new IPEndPoint(_address, secure ? _https!.Port : _port)}\r\nUser-Agent: pipeline-bench\r\nX-Request-Id: {id}\r\n{(close ? "Connection: close\r\n" : "")}\r\n");

    /// <summary>A connection and the stream requests go over (the socket's, or TLS on it).</summary>
    private sealed class Connection(Socket socket, Stream stream) : IDisposable
    {
        public Socket Socket { get; } = socket;
        public Stream Stream { get; } = stream;
        public HttpResponseReader Reader { get; } = new(stream);

        public void Dispose()
        {
            Stream.Dispose();
            Socket.Dispose();
        }
    }
}
