using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Registry;

/// <summary>
/// <see cref="IServiceRegistry"/> over etcd v3's JSON gateway (<c>POST /v3/kv/range</c>, <c>/v3/kv/put</c>,
/// <c>/v3/kv/deleterange</c>, <c>/v3/kv/txn</c>, <c>/v3/lease/*</c>), with keys and values base64-encoded as the
/// gateway expects. Needs nothing but <see cref="HttpClient"/>; works with etcd 3.4 and later.
/// </summary>
/// <remarks>
/// <para>
/// Several endpoints (members of one cluster) may be given: a member that cannot be reached or does not answer
/// within the timeout is skipped and the next one tried. Leases are etcd leases; etcd rounds a TTL up to its own
/// minimum (about 2 s with default settings).
/// </para>
/// <para>
/// Transient failures (no leader, a leader change, an unavailable member, a refused or reset connection) are
/// retried as <see cref="RegistryRetry"/> says. With authentication on, the client authenticates
/// (<c>/v3/auth/authenticate</c>) when etcd first asks for it and sends the token as the <c>Authorization</c> header;
/// a token etcd no longer accepts (it expired) is replaced once per request.
/// </para>
/// </remarks>
public sealed class EtcdRegistry : IServiceRegistry
{
    /// <summary>How long one request to one endpoint may take unless told otherwise.</summary>
    /// <value>5 seconds.</value>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>etcd's gRPC status code for "not found" (e.g. <c>requested lease not found</c>).</summary>
    private const int NotFoundCode = 5;

    /// <summary>etcd's gRPC status code for "unauthenticated" (an expired or unknown auth token).</summary>
    private const int UnauthenticatedCode = 16;

    /// <summary>etcd's gRPC status code for "failed precondition" (e.g. <c>authentication is not enabled</c>).</summary>
    private const int FailedPreconditionCode = 9;

    /// <summary>gRPC codes of failures that pass by themselves: deadline exceeded, resource exhausted, unavailable.</summary>
    private static readonly int[] TransientCodes = [4, 8, 14];

    private readonly RegistryHttp _http;
    private readonly EtcdCredentials? _credentials;
    private readonly SemaphoreSlim _authenticating = new(1, 1);
    private string? _token;

    /// <summary>Talks to the etcd members at <paramref name="endpoints"/> (e.g. <c>http://127.0.0.1:2379</c>).</summary>
    /// <param name="endpoints">One or more client URLs of the cluster, tried in order.</param>
    /// <param name="httpClient">A client to use (not disposed here); by default one is made and owned.</param>
    /// <param name="timeout">How long one request to one endpoint may take; <see cref="DefaultTimeout"/> by default.</param>
    /// <param name="timeProvider">The clock for timeouts and retries; the system clock by default.</param>
    /// <param name="credentials">The etcd user, when etcd has authentication on; none by default.</param>
    /// <param name="retry">How transient failures are retried; <see cref="RegistryRetry.Default"/> by default.</param>
    public EtcdRegistry(
        IEnumerable<Uri> endpoints,
        HttpClient? httpClient = null,
        TimeSpan? timeout = null,
        TimeProvider? timeProvider = null,
        EtcdCredentials? credentials = null,
        RegistryRetry? retry = null)
    {
        _credentials = credentials;
        _http = new RegistryHttp(
            "etcd",
            "Start etcd or set --registry-endpoints.",
            endpoints,
            httpClient,
            timeout ?? DefaultTimeout,
            timeProvider,
            retry: retry,
            isTransient: IsTransient);
    }

    /// <summary>Talks to the etcd member at <paramref name="endpoint"/>.</summary>
    /// <param name="endpoint">A client URL, e.g. <c>http://127.0.0.1:2379</c>.</param>
    /// <param name="httpClient">A client to use (not disposed here); by default one is made and owned.</param>
    /// <param name="timeout">How long one request may take; <see cref="DefaultTimeout"/> by default.</param>
    /// <param name="timeProvider">The clock for timeouts and retries; the system clock by default.</param>
    /// <param name="credentials">The etcd user, when etcd has authentication on; none by default.</param>
    /// <param name="retry">How transient failures are retried; <see cref="RegistryRetry.Default"/> by default.</param>
    public EtcdRegistry(
        Uri endpoint,
        HttpClient? httpClient = null,
        TimeSpan? timeout = null,
        TimeProvider? timeProvider = null,
        EtcdCredentials? credentials = null,
        RegistryRetry? retry = null)
        : this([endpoint], httpClient, timeout, timeProvider, credentials, retry)
    {
    }

    /// <summary>The client URLs this registry talks to, in the order they are tried.</summary>
    public IReadOnlyList<Uri> Endpoints => _http.Endpoints;

    /// <inheritdoc />
    public string Description => $"etcd {_http.EndpointList}";

    /// <inheritdoc />
    /// <remarks>
    /// Answers at once (no retries). Also checks authentication: with credentials, that etcd accepts them (when
    /// etcd has authentication on); without, that etcd does not ask for any.
    /// </remarks>
    public async Task PingAsync(CancellationToken ct = default)
    {
        var answer = await CallAsync("maintenance/status", new JsonObject(), "check its status", ct, retry: false).ConfigureAwait(false);
        answer.ThrowIfFailed("check its status");
        if (_credentials is null)
        {
            if (await AuthenticationIsOnAsync(ct).ConfigureAwait(false) is { } endpoint)
                throw new ServiceRegistryException($"etcd at {RegistryHttp.Display(endpoint)} has authentication on: {GiveAUser}");
            return;
        }

        try
        {
            _credentials.ReadPassword();
        }
        catch (ServiceRegistryException)
        {
            // A password file that is not there matters only to an etcd that asks for a password.
            if (await AuthenticationIsOnAsync(ct).ConfigureAwait(false) is null) return;
            throw;
        }

        await AuthenticateAsync(_token, retry: false, ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<string?> GetAsync(string key, CancellationToken ct = default)
    {
        RequireKey(key);
        var operation = $"get '{key}'";
        var answer = await CallAsync("kv/range", new JsonObject { ["key"] = Encode(key) }, operation, ct).ConfigureAwait(false);
        var root = answer.ThrowIfFailed(operation);
        if (!root.TryGetProperty("kvs", out var kvs) || kvs.GetArrayLength() == 0) return null;
        return DecodeValue(kvs[0]);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, string>> GetPrefixAsync(string prefix, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var operation = $"list keys under '{prefix}'";
        var body = PrefixRange(prefix);
        body["sort_order"] = "ASCEND";
        body["sort_target"] = "KEY";
        var answer = await CallAsync("kv/range", body, operation, ct).ConfigureAwait(false);
        var root = answer.ThrowIfFailed(operation);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (root.TryGetProperty("kvs", out var kvs))
        {
            foreach (var kv in kvs.EnumerateArray())
                result[Decode(kv.GetProperty("key").GetString())] = DecodeValue(kv);
        }

        return result;
    }

    /// <inheritdoc />
    public async Task PutAsync(string key, string value, long? leaseId = null, CancellationToken ct = default)
    {
        RequireKey(key);
        ArgumentNullException.ThrowIfNull(value);
        var operation = leaseId is { } id ? $"put '{key}' with lease {id}" : $"put '{key}'";
        var answer = await CallAsync("kv/put", PutRequest(key, value, leaseId), operation, ct).ConfigureAwait(false);
        answer.ThrowIfFailed(operation);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string key, CancellationToken ct = default)
    {
        RequireKey(key);
        var operation = $"delete '{key}'";
        var answer = await CallAsync("kv/deleterange", new JsonObject { ["key"] = Encode(key) }, operation, ct).ConfigureAwait(false);
        answer.ThrowIfFailed(operation);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The prefix is empty: that would delete every key in the cluster.</exception>
    public async Task DeletePrefixAsync(string prefix, CancellationToken ct = default)
    {
        RequirePrefixToDelete(prefix);
        var operation = $"delete keys under '{prefix}'";
        var answer = await CallAsync("kv/deleterange", PrefixRange(prefix), operation, ct).ConfigureAwait(false);
        answer.ThrowIfFailed(operation);
    }

    /// <inheritdoc />
    public async Task<bool> CompareAndSwapAsync(string key, string? expected, string value, long? leaseId = null, CancellationToken ct = default)
    {
        RequireKey(key);
        ArgumentNullException.ThrowIfNull(value);
        var compare = expected is null
            ? new JsonObject { ["key"] = Encode(key), ["target"] = "CREATE", ["result"] = "EQUAL", ["create_revision"] = "0" }
            : new JsonObject { ["key"] = Encode(key), ["target"] = "VALUE", ["result"] = "EQUAL", ["value"] = Encode(expected) };
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(compare),
            ["success"] = new JsonArray(new JsonObject { ["request_put"] = PutRequest(key, value, leaseId) }),
        };
        var operation = expected is null ? $"create '{key}' if absent" : $"compare-and-swap '{key}'";
        var answer = await CallAsync("kv/txn", body, operation, ct).ConfigureAwait(false);
        var root = answer.ThrowIfFailed(operation);
        return root.TryGetProperty("succeeded", out var succeeded) && succeeded.ValueKind == JsonValueKind.True;
    }

    /// <inheritdoc />
    public Task<bool> PutIfHeldAsync(LeaseFence fence, string key, string value, CancellationToken ct = default)
    {
        RequireKey(key);
        ArgumentNullException.ThrowIfNull(value);
        return FencedAsync(fence, new JsonObject { ["request_put"] = PutRequest(key, value, null) }, $"put '{key}' holding {fence.LockKey}", ct);
    }

    /// <inheritdoc />
    public Task<bool> DeleteIfHeldAsync(LeaseFence fence, string key, CancellationToken ct = default)
    {
        RequireKey(key);
        return FencedAsync(fence, new JsonObject { ["request_delete_range"] = new JsonObject { ["key"] = Encode(key) } }, $"delete '{key}' holding {fence.LockKey}", ct);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The prefix is empty: that would delete every key in the cluster.</exception>
    public Task<bool> DeletePrefixIfHeldAsync(LeaseFence fence, string prefix, CancellationToken ct = default)
    {
        RequirePrefixToDelete(prefix);
        return FencedAsync(fence, new JsonObject { ["request_delete_range"] = PrefixRange(prefix) }, $"delete keys under '{prefix}' holding {fence.LockKey}", ct);
    }

    /// <summary>One transaction: if the lock key is bound to the fence's lease (a missing key has lease 0), run <paramref name="request"/>.</summary>
    private async Task<bool> FencedAsync(LeaseFence fence, JsonObject request, string operation, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(fence);
        RequireKey(fence.LockKey);
        var body = new JsonObject
        {
            ["compare"] = new JsonArray(new JsonObject
            {
                ["key"] = Encode(fence.LockKey),
                ["target"] = "LEASE",
                ["result"] = "EQUAL",
                ["lease"] = fence.LeaseId.ToString(CultureInfo.InvariantCulture),
            }),
            ["success"] = new JsonArray(request),
        };
        var answer = await CallAsync("kv/txn", body, operation, ct).ConfigureAwait(false);
        var root = answer.ThrowIfFailed(operation);
        return root.TryGetProperty("succeeded", out var succeeded) && succeeded.ValueKind == JsonValueKind.True;
    }

    /// <inheritdoc />
    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        if (ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A lease needs a positive TTL.");
        var seconds = (long)Math.Ceiling(ttl.TotalSeconds);
        var operation = $"grant a lease of {seconds} s";
        var answer = await CallAsync("lease/grant", new JsonObject { ["TTL"] = seconds.ToString(CultureInfo.InvariantCulture) }, operation, ct)
            .ConfigureAwait(false);
        var root = answer.ThrowIfFailed(operation);
        if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String && error.GetString() is { Length: > 0 } text)
            throw new ServiceRegistryException($"etcd at {RegistryHttp.Display(answer.Endpoint)} refused to {operation}: {text}.");
        return ReadInt64(root, "ID") is { } id and not 0
            ? id
            : throw new ServiceRegistryException($"etcd at {RegistryHttp.Display(answer.Endpoint)} granted no lease id: {answer.Body}");
    }

    /// <inheritdoc />
    public async Task<bool> KeepAliveAsync(long leaseId, CancellationToken ct = default)
    {
        var operation = $"keep lease {leaseId} alive";
        var answer = await CallAsync("lease/keepalive", new JsonObject { ["ID"] = leaseId.ToString(CultureInfo.InvariantCulture) }, operation, ct)
            .ConfigureAwait(false);
        if (answer.Code == NotFoundCode) return false;
        var root = answer.ThrowIfFailed(operation);
        // The gateway streams: one {"result": {...}} per request sent; an expired lease comes back with no TTL.
        if (root.TryGetProperty("error", out var streamError) && streamError.ValueKind == JsonValueKind.Object)
        {
            if (ReadInt64(streamError, "code") == NotFoundCode) return false;
            throw new ServiceRegistryException(
                $"etcd at {RegistryHttp.Display(answer.Endpoint)} refused to {operation}: {streamError.GetRawText()}");
        }

        var result = root.TryGetProperty("result", out var r) ? r : root;
        return ReadInt64(result, "TTL") is > 0;
    }

    /// <inheritdoc />
    public async Task RevokeLeaseAsync(long leaseId, CancellationToken ct = default)
    {
        var operation = $"revoke lease {leaseId}";
        var answer = await CallAsync("lease/revoke", new JsonObject { ["ID"] = leaseId.ToString(CultureInfo.InvariantCulture) }, operation, ct)
            .ConfigureAwait(false);
        if (answer.Code == NotFoundCode) return;
        answer.ThrowIfFailed(operation);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _http.Dispose();
        _authenticating.Dispose();
    }

    /// <summary>
    /// The end of the key range holding every key that starts with <paramref name="prefix"/> (UTF-8 bytes):
    /// the prefix with its last byte below 0xFF incremented and what follows dropped; <c>[0]</c> ("no upper
    /// bound") when every byte is 0xFF or the prefix is empty.
    /// </summary>
    internal static byte[] RangeEnd(byte[] prefix)
    {
        for (var i = prefix.Length - 1; i >= 0; i--)
        {
            if (prefix[i] == 0xFF) continue;
            var end = prefix[..(i + 1)];
            end[i]++;
            return end;
        }

        return [0];
    }

    private static JsonObject PrefixRange(string prefix)
    {
        var bytes = Encoding.UTF8.GetBytes(prefix);
        // etcd rejects an empty key; "\0" up to "no upper bound" is every key.
        var start = bytes.Length == 0 ? [0] : bytes;
        return new JsonObject
        {
            ["key"] = Convert.ToBase64String(start),
            ["range_end"] = Convert.ToBase64String(RangeEnd(bytes)),
        };
    }

    private static JsonObject PutRequest(string key, string value, long? leaseId)
    {
        var put = new JsonObject { ["key"] = Encode(key), ["value"] = Encode(value) };
        if (leaseId is { } id) put["lease"] = id.ToString(CultureInfo.InvariantCulture);
        return put;
    }

    private const string GiveAUser =
        "give the pipeline an etcd user with --etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file=PATH).";

    private async Task<EtcdAnswer> CallAsync(string path, JsonObject body, string operation, CancellationToken ct, bool retry = true)
    {
        var json = body.ToJsonString();
        var token = _token;
        var answer = await SendAsync(path, json, token, operation, retry, ct).ConfigureAwait(false);
        if (!AsksForAuthentication(answer)) return answer;
        if (_credentials is null)
            throw new ServiceRegistryException(
                $"etcd at {RegistryHttp.Display(answer.Endpoint)} asks for authentication to {operation} ({answer.Message}): {GiveAUser}");
        token = await AuthenticateAsync(token, retry, ct).ConfigureAwait(false);
        return await SendAsync(path, json, token, operation, retry, ct).ConfigureAwait(false);
    }

    private async Task<EtcdAnswer> SendAsync(string path, string json, string? token, string operation, bool retry, CancellationToken ct)
    {
        var response = await _http.SendAsync(
            endpoint =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, "v3/" + path))
                {
                    Content = new StringContent(json, Encoding.UTF8, "application/json"),
                };
                if (token is not null) request.Headers.TryAddWithoutValidation("Authorization", token);
                return request;
            },
            operation,
            ct,
            retry).ConfigureAwait(false);
        return EtcdAnswer.From(response);
    }

    /// <summary>An expired or unknown token, or no token where etcd wants one.</summary>
    private static bool AsksForAuthentication(EtcdAnswer answer) =>
        !answer.IsSuccess && (answer.Code == UnauthenticatedCode || answer.Message == "etcdserver: user name is empty");

    /// <summary>
    /// Gets a new token unless another call replaced <paramref name="staleToken"/> meanwhile; null when etcd has
    /// authentication off after all.
    /// </summary>
    private async Task<string?> AuthenticateAsync(string? staleToken, bool retry, CancellationToken ct)
    {
        await _authenticating.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_token != staleToken) return _token;
            var credentials = _credentials!;
            var operation = $"authenticate etcd user '{credentials.Username}'";
            var body = new JsonObject { ["name"] = credentials.Username, ["password"] = credentials.ReadPassword() };
            var answer = await SendAsync("auth/authenticate", body.ToJsonString(), null, operation, retry, ct).ConfigureAwait(false);
            if (answer.IsSuccess && answer.Root.TryGetProperty("token", out var token) && token.GetString() is { Length: > 0 } text)
            {
                _token = text;
                return text;
            }

            if (answer.Code == FailedPreconditionCode) return _token = null;
            var why = answer.Message ?? (answer.IsSuccess ? "no token in its answer" : $"HTTP answer {answer.Body}");
            throw new ServiceRegistryException(
                $"etcd at {RegistryHttp.Display(answer.Endpoint)} refused to {operation}: {why}. Check --etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file).");
        }
        finally
        {
            _authenticating.Release();
        }
    }

    /// <summary>The endpoint that says etcd has authentication on, or null when it is off (asked with an empty user, no secret sent).</summary>
    private async Task<Uri?> AuthenticationIsOnAsync(CancellationToken ct)
    {
        var body = new JsonObject { ["name"] = string.Empty, ["password"] = string.Empty };
        var answer = await SendAsync("auth/authenticate", body.ToJsonString(), null, "check whether it has authentication on", retry: false, ct)
            .ConfigureAwait(false);
        return answer.Code == FailedPreconditionCode ? null : answer.Endpoint;
    }

    /// <summary>Answers worth retrying: a gateway or member that is unavailable, no leader, a leader change, a timeout, too many requests.</summary>
    private static bool IsTransient(RegistryResponse response)
    {
        if ((int)response.Status is 502 or 503 or 504) return true;
        if (response.IsSuccess) return false;
        var answer = EtcdAnswer.From(response);
        return answer.Code is { } code && TransientCodes.Contains(code);
    }

    private static void RequireKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0) throw new ArgumentException("A registry key cannot be empty.", nameof(key));
    }

    internal static void RequirePrefixToDelete(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length == 0)
            throw new ArgumentException("Refusing to delete with an empty prefix: that would delete every key in the registry.", nameof(prefix));
    }

    private static string Encode(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Decode(string? base64) =>
        string.IsNullOrEmpty(base64) ? string.Empty : Encoding.UTF8.GetString(Convert.FromBase64String(base64));

    // The gateway leaves out empty fields: a key with an empty value has no "value".
    private static string DecodeValue(JsonElement kv) =>
        kv.TryGetProperty("value", out var value) ? Decode(value.GetString()) : string.Empty;

    // int64 fields arrive as JSON strings ("7587899186492023558"); accept numbers too.
    private static long? ReadInt64(JsonElement element, string name)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.Number => value.GetInt64(),
            JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        };
    }

    /// <summary>One gateway answer: the parsed body and, for an error, etcd's gRPC code and message.</summary>
    private sealed record EtcdAnswer(Uri Endpoint, bool IsSuccess, string Body, JsonElement Root, int? Code, string? Message)
    {
        public static EtcdAnswer From(RegistryResponse response)
        {
            JsonElement root = default;
            int? code = null;
            string? message = null;
            try
            {
                root = JsonDocument.Parse(response.Body).RootElement.Clone();
                if (!response.IsSuccess && root.ValueKind == JsonValueKind.Object)
                {
                    code = ReadInt64(root, "code") is { } c ? (int)c : null;
                    message = root.TryGetProperty("message", out var m) ? m.GetString()
                        : root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()
                        : null;
                }
            }
            catch (JsonException)
            {
                // Not JSON (a proxy's error page, a wrong port): reported below with the raw body.
            }

            return new EtcdAnswer(response.Endpoint, response.IsSuccess && root.ValueKind == JsonValueKind.Object, response.Body, root, code, message);
        }

        public JsonElement ThrowIfFailed(string operation)
        {
            if (IsSuccess) return Root;
            var answer = Message is not null
                ? $"{Message}{(Code is { } c ? $" (code {c})" : string.Empty)}"
                : Body.Length == 0 ? "an empty answer" : "\n" + Indent.Lines(Body.Trim().Split('\n').Take(20));
            throw new ServiceRegistryException($"etcd at {RegistryHttp.Display(Endpoint)} refused to {operation}: {answer}");
        }
    }
}
