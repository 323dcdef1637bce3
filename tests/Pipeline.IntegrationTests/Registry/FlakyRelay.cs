using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>How a <see cref="FlakyRelay"/> fails a request.</summary>
public enum RelayFailure
{
    /// <summary>503 with etcd's gateway answer for a leader change (gRPC Unavailable, code 14).</summary>
    EtcdLeaderChanged,

    /// <summary>500 "No cluster leader", as a Consul agent answers while its servers elect a leader.</summary>
    ConsulNoLeader,

    /// <summary>The connection is reset without an answer.</summary>
    ConnectionReset,

    /// <summary>403 with etcd's "permission denied" (code 7): an answer about the request, not a passing fault.</summary>
    EtcdPermissionDenied,
}

/// <summary>
/// An HTTP relay on a free loopback port in front of a real registry (etcd, or the Consul stand-in): the first
/// <c>failures</c> requests fail the way the test says, every later one is passed on and its answer passed back
/// (one request per connection). Counts every request it received.
/// </summary>
internal sealed class FlakyRelay : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _target = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CancellationTokenSource _stop = new();
    private readonly Uri _targetAddress;
    private readonly RelayFailure _failure;
    private readonly int _failures;
    private int _requests;

    public FlakyRelay(Uri target, RelayFailure failure, int failures)
    {
        _targetAddress = target;
        _failure = failure;
        _failures = failures;
        _listener.Start();
        Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _ = Task.Run(AcceptAsync);
    }

    public Uri Address { get; }

    /// <summary>How many requests arrived (failed and relayed).</summary>
    public int Requests => Volatile.Read(ref _requests);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _target.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var (method, target, headers, body) = await ReadRequestAsync(stream);
                if (method is null)
                {
                    return;
                }

                if (Interlocked.Increment(ref _requests) <= _failures)
                {
                    if (_failure == RelayFailure.ConnectionReset)
                    {
                        client.Client.LingerState = new LingerOption(true, 0);
                        client.Client.Close();
                        return;
                    }

                    var (status, text) = _failure switch
                    {
                        RelayFailure.EtcdLeaderChanged => (503, """{"error":"etcdserver: leader changed","message":"etcdserver: leader changed","code":14}"""),
                        RelayFailure.ConsulNoLeader => (500, "No cluster leader"),
                        _ => (403, """{"error":"etcdserver: permission denied","message":"etcdserver: permission denied","code":7}"""),
                    };
                    await WriteAsync(stream, status, Encoding.UTF8.GetBytes(text));
                    return;
                }

                using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(_targetAddress, target)) { Content = new ByteArrayContent(body) };
                foreach (var (name, value) in headers.Where(h => h.Name is "Authorization" or "X-Consul-Token"))
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }

                using var answer = await _target.SendAsync(request, _stop.Token);
                await WriteAsync(stream, (int)answer.StatusCode, await answer.Content.ReadAsByteArrayAsync(_stop.Token));
            }
            catch (Exception e) when (e is IOException or SocketException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    private async Task<(string? Method, string Target, List<(string Name, string Value)> Headers, byte[] Body)> ReadRequestAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0)
            {
                return (null, "", [], []);
            }

            head.Append((char)one[0]);
        }

        var lines = head.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var requestLine = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2).Select(p => (p[0].Trim(), p[1].Trim())).ToList();
        var length = headers.Where(h => h.Item1.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => int.Parse(h.Item2, System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        var body = new byte[length];
        await stream.ReadExactlyAsync(body, _stop.Token);
        return (requestLine[0], requestLine[1], headers, body);
    }

    private async Task WriteAsync(NetworkStream stream, int status, byte[] body)
    {
        var head = $"HTTP/1.1 {status} {(HttpStatusCode)status}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
        await stream.WriteAsync(body, _stop.Token);
        await stream.FlushAsync(_stop.Token);
    }
}
