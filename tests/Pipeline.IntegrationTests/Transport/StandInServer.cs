using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Pipeline.IntegrationTests.Transport;

/// <summary>One request a <see cref="StandInServer"/> received: over TLS or in clear, and the credentials it carried.</summary>
internal sealed record StandInRequest(bool OverTls, string Method, string Target, string? Authorization);

/// <summary>
/// An HTTP server on a free loopback port that answers with what the test says, on one port both in clear and over
/// TLS (with the certificate the test gives; the first byte of a connection tells which), and records every request
/// with its Authorization header. Stands in for a registry or token service whose certificate or answers the test picks.
/// </summary>
internal sealed class StandInServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2? _certificate;
    private readonly Func<StandInRequest, string> _answer;
    private readonly CancellationTokenSource _stop = new();

    /// <param name="certificate">The certificate (with key) for TLS connections; null for a server that speaks only plain HTTP.</param>
    /// <param name="answer">The raw HTTP response (status line and headers; a body must come with its Content-Length) for a request.</param>
    public StandInServer(X509Certificate2? certificate, Func<StandInRequest, string> answer)
    {
        _certificate = certificate;
        _answer = answer;
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Address => $"127.0.0.1:{Port}";

    public ConcurrentQueue<StandInRequest> Requests { get; } = new();

    /// <summary>TLS handshakes that the client gave up (it rejected the certificate).</summary>
    public int RejectedHandshakes => _rejected;

    private int _rejected;

    /// <summary>The answer of an image registry that asks for credentials: 401 with the API version header and <paramref name="challenge"/>.</summary>
    public static string RegistryChallenge(string challenge) =>
        "HTTP/1.1 401 Unauthorized\r\nDocker-Distribution-API-Version: registry/2.0\r\n" +
        $"WWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    public static string Status(int code, string reason) => $"HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _certificate?.Dispose();
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
                var first = new byte[1];
                if (await client.Client.ReceiveAsync(first, SocketFlags.Peek, _stop.Token) == 0)
                {
                    return;
                }

                Stream stream = client.GetStream();
                var tls = first[0] == 0x16;
                if (tls && _certificate is null)
                {
                    // A TLS hello to a server that speaks only HTTP: it cannot parse it and hangs up.
                    return;
                }

                if (tls)
                {
                    var ssl = new SslStream(stream);
                    try
                    {
                        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                    }
                    catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
                    {
                        Interlocked.Increment(ref _rejected);
                        return;
                    }

                    stream = ssl;
                }

                var request = await ReadRequestAsync(stream, tls);
                if (request is null)
                {
                    // With TLS 1.3 the server finishes its handshake before the client checks the certificate: a
                    // client that rejects it hangs up without a request.
                    if (tls)
                    {
                        Interlocked.Increment(ref _rejected);
                    }

                    return;
                }

                Requests.Enqueue(request);
                await stream.WriteAsync(Encoding.ASCII.GetBytes(_answer(request)), _stop.Token);
                await stream.FlushAsync(_stop.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    private async Task<StandInRequest?> ReadRequestAsync(Stream stream, bool tls)
    {
        var head = new StringBuilder();
        var buffer = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 16_384)
        {
            int read;
            try
            {
                read = await stream.ReadAsync(buffer, _stop.Token);
            }
            catch (IOException) when (head.Length == 0)
            {
                return null;
            }

            if (read == 0)
            {
                break;
            }

            head.Append((char)buffer[0]);
        }

        if (head.Length == 0)
        {
            return null;
        }

        var lines = head.ToString().Split("\r\n");
        var requestLine = lines[0].Split(' ');
        var authorization = lines.Skip(1).FirstOrDefault(l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase))?["Authorization:".Length..].Trim();
        return new StandInRequest(tls, requestLine[0], requestLine.Length > 1 ? requestLine[1] : "", authorization);
    }
}
