using System.Net;
using System.Net.Sockets;

namespace Pipeline.Registry;

/// <summary>What one registry endpoint answered: its address, HTTP status and body.</summary>
internal sealed record RegistryResponse(Uri Endpoint, HttpStatusCode Status, string Body)
{
    public bool IsSuccess => (int)Status is >= 200 and < 300;
}

/// <summary>
/// Sends HTTP requests to a registry with several endpoints: each attempt has its own timeout (from the
/// <see cref="TimeProvider"/>); an endpoint that cannot be reached or does not answer in time is skipped and the
/// next one tried; the last endpoint that answered is tried first next time. Only transport failures move on:
/// an HTTP error status is the registry's answer and goes back to the caller. When every endpoint failed in a way
/// that may pass (refused, reset, timed out) or the answer is one the registry calls transient, the whole round is
/// tried again with backoff as <see cref="RegistryRetry"/> allows; the last failure is what the caller sees.
/// </summary>
internal sealed class RegistryHttp : IDisposable
{
    private readonly IReadOnlyList<Uri> _endpoints;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _time;
    private readonly string _system;
    private readonly string _hint;
    private readonly Action<HttpRequestMessage>? _decorate;
    private readonly RegistryRetry _retry;
    private readonly Func<RegistryResponse, bool> _isTransient;
    private int _preferred;

    public RegistryHttp(
        string system,
        string hint,
        IEnumerable<Uri> endpoints,
        HttpClient? httpClient,
        TimeSpan? timeout,
        TimeProvider? timeProvider,
        Action<HttpRequestMessage>? decorate = null,
        RegistryRetry? retry = null,
        Func<RegistryResponse, bool>? isTransient = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        _endpoints = endpoints.Select(Normalize).ToArray();
        if (_endpoints.Count == 0)
            throw new ArgumentException($"At least one {system} endpoint is needed.", nameof(endpoints));
        _timeout = timeout ?? TimeSpan.FromSeconds(5);
        if (_timeout <= TimeSpan.Zero && _timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), _timeout, "The timeout must be positive.");
        _time = timeProvider ?? TimeProvider.System;
        _system = system;
        _hint = hint;
        _decorate = decorate;
        _retry = retry ?? RegistryRetry.Default;
        _isTransient = isTransient ?? (_ => false);
        _ownsHttp = httpClient is null;
        _http = httpClient ?? new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
    }

    public IReadOnlyList<Uri> Endpoints => _endpoints;

    /// <summary>The endpoints as people write them, without a trailing slash.</summary>
    public string EndpointList => string.Join(",", _endpoints.Select(Display));

    public static string Display(Uri endpoint) => endpoint.ToString().TrimEnd('/');

    /// <summary>
    /// Sends the request <paramref name="build"/> makes for an endpoint (called once per attempt, since a request
    /// cannot be sent twice). <paramref name="operation"/> says what was being done, for the error message
    /// ("get 'svc/a'"). Transient failures are retried unless <paramref name="retry"/> is false (a check that
    /// reports the state now, such as a ping).
    /// </summary>
    public async Task<RegistryResponse> SendAsync(Func<Uri, HttpRequestMessage> build, string operation, CancellationToken ct, bool retry = true)
    {
        var started = _time.GetTimestamp();
        for (var round = 1; ; round++)
        {
            var (response, failures) = await SendToEachEndpointAsync(build, ct).ConfigureAwait(false);
            var transient = response is null ? failures.All(f => f.Transient) : _isTransient(response);
            if (!retry || !transient || _retry.DelayBefore(round, _time.GetElapsedTime(started)) is not { } delay)
            {
                return response ?? throw Unreachable(operation, failures);
            }

            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
    }

    private ServiceRegistryException Unreachable(string operation, List<(Uri Endpoint, string Reason, bool Transient)> failures)
    {
        var where = failures.Count == 1
            ? $"{Display(failures[0].Endpoint)} to {operation}: {failures[0].Reason}"
            : $"any of its endpoints to {operation}: " +
              string.Join("; ", failures.Select(f => $"{Display(f.Endpoint)}: {f.Reason}"));
        return new ServiceRegistryException($"Could not reach {_system} at {where}. {_hint}");
    }

    /// <summary>One round: each endpoint once, from the preferred one, until one answers.</summary>
    private async Task<(RegistryResponse? Response, List<(Uri Endpoint, string Reason, bool Transient)> Failures)> SendToEachEndpointAsync(
        Func<Uri, HttpRequestMessage> build, CancellationToken ct)
    {
        var failures = new List<(Uri Endpoint, string Reason, bool Transient)>();
        var start = Volatile.Read(ref _preferred);
        for (var attempt = 0; attempt < _endpoints.Count; attempt++)
        {
            var index = (start + attempt) % _endpoints.Count;
            var endpoint = _endpoints[index];
            using var deadline = _timeout == Timeout.InfiniteTimeSpan
                ? new CancellationTokenSource()
                : new CancellationTokenSource(_timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
            try
            {
                using var request = build(endpoint);
                _decorate?.Invoke(request);
                using var response = await _http.SendAsync(request, linked.Token).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
                Volatile.Write(ref _preferred, index);
                return (new RegistryResponse(endpoint, response.StatusCode, body), failures);
            }
            catch (HttpRequestException e)
            {
                failures.Add((endpoint, Describe(e), IsTransient(e)));
            }
            catch (IOException e)
            {
                // The connection broke while the body was read.
                failures.Add((endpoint, e.Message, true));
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                failures.Add((endpoint, $"no answer within {_timeout.TotalSeconds:0.###} s", true));
            }
        }

        return (null, failures);
    }

    /// <summary>
    /// A failure that may pass by itself: the connection was refused, reset or timed out, or the answer ended early.
    /// Not a name that does not resolve, a TLS handshake that failed (a certificate) or a server that speaks no HTTP.
    /// </summary>
    private static bool IsTransient(HttpRequestException e) => e.HttpRequestError switch
    {
        HttpRequestError.ConnectionError or HttpRequestError.ResponseEnded => true,
        HttpRequestError.Unknown => e.GetBaseException() is System.Net.Sockets.SocketException or IOException,
        _ => false,
    };
    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    private static Uri Normalize(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"'{endpoint}' is not an http(s) address.", nameof(endpoint));
        return endpoint.AbsolutePath.EndsWith('/') ? endpoint : new Uri(endpoint + "/");
    }

    private static string Describe(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.HostNotFound or SocketError.NoData => "host not found",
                    SocketError.TimedOut => "connection timed out",
                    SocketError.NetworkUnreachable or SocketError.HostUnreachable => "unreachable",
                    SocketError.ConnectionReset => "connection reset",
                    _ => socket.Message,
                };
            }
        }

        return e.Message;
    }
}
