using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Registry;

/// <summary>
/// <see cref="IServiceRegistry"/> over Consul's HTTP API: the KV store (<c>/v1/kv/&lt;key&gt;</c>, <c>?recurse</c>
/// for prefixes, <c>?cas=&lt;ModifyIndex&gt;</c> for compare-and-swap with <c>cas=0</c> meaning "must not exist"),
/// sessions as leases and <c>/v1/txn</c> where a check and a lock must happen together.
/// </summary>
/// <remarks>
/// <para>
/// Leases are Consul sessions created with a TTL, <c>Behavior=delete</c> and <c>LockDelay=0s</c>; a key is bound to
/// one by acquiring it (<c>?acquire=&lt;session&gt;</c>), so it is deleted when the session is destroyed or
/// expires. Consul only promises not to end a session before its TTL: it may take up to twice as long.
/// A TTL below the server's <c>session_ttl_min</c> (10 s unless configured) is rounded up to
/// <c>minimumSessionTtl</c>, as etcd rounds up to its own minimum.
/// </para>
/// <para>
/// Lease ids are longs in the port and UUIDs in Consul: a session's lease id is the first 64 bits of its UUID
/// with the sign bit cleared, so it is the same in every process. This adapter remembers the sessions it has
/// seen; an id it has not seen (granted by another process) is found again through <c>/v1/session/list</c>.
/// </para>
/// <para>Put without a lease on a key bound to a session releases it from that session, as etcd does.</para>
/// <para>The ACL token, when given, goes in the <c>X-Consul-Token</c> header and never into a message.</para>
/// </remarks>
public sealed class ConsulRegistry : IServiceRegistry
{
    /// <summary>How long one request to one agent may take unless told otherwise.</summary>
    /// <value>5 seconds.</value>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Consul's default <c>session_ttl_min</c>: the shortest session TTL a server accepts.</summary>
    /// <value>10 seconds.</value>
    public static readonly TimeSpan DefaultMinimumSessionTtl = TimeSpan.FromSeconds(10);

    private const int MaxAttempts = 8;

    /// <summary>What a 500 from Consul says when the servers are between leaders or cannot be reached.</summary>
    private static readonly string[] TransientServerErrors =
        ["No cluster leader", "leadership lost", "rpc error", "i/o timeout", "connection refused", "EOF", "timed out"];

    private readonly RegistryHttp _http;
    private readonly TimeSpan _minimumSessionTtl;
    private readonly ConcurrentDictionary<long, string> _sessions = new();

    /// <summary>Talks to the Consul agents at <paramref name="endpoints"/> (e.g. <c>http://127.0.0.1:8500</c>).</summary>
    /// <param name="endpoints">One or more agent addresses, tried in order.</param>
    /// <param name="token">An ACL token sent as <c>X-Consul-Token</c>; none by default.</param>
    /// <param name="httpClient">A client to use (not disposed here); by default one is made and owned.</param>
    /// <param name="timeout">How long one request to one agent may take; <see cref="DefaultTimeout"/> by default.</param>
    /// <param name="minimumSessionTtl">The server's <c>session_ttl_min</c>; <see cref="DefaultMinimumSessionTtl"/> by default.</param>
    /// <param name="timeProvider">The clock for timeouts and retries; the system clock by default.</param>
    /// <param name="retry">How transient failures (a 5xx such as "No cluster leader", a refused or reset connection) are retried; <see cref="RegistryRetry.Default"/> by default.</param>
    public ConsulRegistry(
        IEnumerable<Uri> endpoints,
        string? token = null,
        HttpClient? httpClient = null,
        TimeSpan? timeout = null,
        TimeSpan? minimumSessionTtl = null,
        TimeProvider? timeProvider = null,
        RegistryRetry? retry = null)
    {
        _minimumSessionTtl = minimumSessionTtl ?? DefaultMinimumSessionTtl;
        if (_minimumSessionTtl <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(minimumSessionTtl), _minimumSessionTtl, "The minimum session TTL must be positive.");
        _http = new RegistryHttp(
            "Consul",
            "Start the Consul agent or set --registry=consul --registry-endpoints.",
            endpoints,
            httpClient,
            timeout ?? DefaultTimeout,
            timeProvider,
            string.IsNullOrEmpty(token) ? null : request => request.Headers.Add("X-Consul-Token", token),
            retry,
            IsTransient);
    }

    /// <summary>Talks to the Consul agent at <paramref name="endpoint"/>.</summary>
    /// <param name="endpoint">The agent's HTTP address, e.g. <c>http://127.0.0.1:8500</c>.</param>
    /// <param name="token">An ACL token sent as <c>X-Consul-Token</c>; none by default.</param>
    /// <param name="httpClient">A client to use (not disposed here); by default one is made and owned.</param>
    /// <param name="timeout">How long one request may take; <see cref="DefaultTimeout"/> by default.</param>
    /// <param name="minimumSessionTtl">The server's <c>session_ttl_min</c>; <see cref="DefaultMinimumSessionTtl"/> by default.</param>
    /// <param name="timeProvider">The clock for timeouts and retries; the system clock by default.</param>
    /// <param name="retry">How transient failures are retried; <see cref="RegistryRetry.Default"/> by default.</param>
    public ConsulRegistry(
        Uri endpoint,
        string? token = null,
        HttpClient? httpClient = null,
        TimeSpan? timeout = null,
        TimeSpan? minimumSessionTtl = null,
        TimeProvider? timeProvider = null,
        RegistryRetry? retry = null)
        : this([endpoint], token, httpClient, timeout, minimumSessionTtl, timeProvider, retry)
    {
    }

    /// <summary>The agent addresses this registry talks to, in the order they are tried.</summary>
    public IReadOnlyList<Uri> Endpoints => _http.Endpoints;

    /// <inheritdoc />
    public string Description => $"Consul {_http.EndpointList}";

    /// <summary>The lease id the port uses for a Consul session: the UUID's first 64 bits, sign bit cleared.</summary>
    /// <param name="sessionId">A session UUID such as <c>adf4238a-882b-9ddc-4a9d-5b6758e4159e</c>.</param>
    public static long LeaseIdOf(string sessionId)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        var hex = sessionId.Replace("-", string.Empty, StringComparison.Ordinal);
        if (hex.Length < 16 || !ulong.TryParse(hex.AsSpan(0, 16), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var bits))
            throw new ArgumentException($"'{sessionId}' is not a Consul session id.", nameof(sessionId));
        return (long)(bits & long.MaxValue);
    }

    /// <inheritdoc />
    /// <remarks>Answers at once (no retries).</remarks>
    public async Task PingAsync(CancellationToken ct = default)
    {
        const string operation = "ask for its leader";
        var response = await SendAsync(HttpMethod.Get, "v1/status/leader", null, operation, ct, retry: false).ConfigureAwait(false);
        EnsureSuccess(response, operation);
        if (response.Body.Trim() is "\"\"" or "")
            throw new ServiceRegistryException($"Consul at {RegistryHttp.Display(response.Endpoint)} has no leader: its servers cannot serve the KV store.");
    }

    /// <inheritdoc />
    public async Task<string?> GetAsync(string key, CancellationToken ct = default) =>
        (await ReadEntryAsync(key, ct).ConfigureAwait(false))?.Value;

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, string>> GetPrefixAsync(string prefix, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var operation = $"list keys under '{prefix}'";
        var response = await SendAsync(HttpMethod.Get, KvPath(prefix) + "?recurse", null, operation, ct).ConfigureAwait(false);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (response.Status == HttpStatusCode.NotFound) return result;
        EnsureSuccess(response, operation);
        foreach (var entry in ParseEntries(response, operation))
        {
            // Consul's prefix match is the same plain string match; keep the guard for agents that differ.
            if (entry.Key.StartsWith(prefix, StringComparison.Ordinal)) result[entry.Key] = entry.Value;
        }

        return result;
    }

    /// <inheritdoc />
    public async Task PutAsync(string key, string value, long? leaseId = null, CancellationToken ct = default)
    {
        RequireKey(key);
        ArgumentNullException.ThrowIfNull(value);
        var session = leaseId is { } id ? await RequireSessionAsync(id, $"put '{key}'", ct).ConfigureAwait(false) : null;
        var operation = leaseId is { } l ? $"put '{key}' with lease {l}" : $"put '{key}'";

        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var entry = await ReadEntryAsync(key, ct).ConfigureAwait(false);
            var holder = entry?.Session;
            if (holder is null || holder == session)
            {
                // Free (or ours): a plain write, or an acquire that binds the key to the session.
                var query = session is null ? string.Empty : "?acquire=" + Uri.EscapeDataString(session);
                var response = await SendAsync(HttpMethod.Put, KvPath(key) + query, value, operation, ct).ConfigureAwait(false);
                EnsureSuccess(response, operation);
                if (IsTrue(response)) return;
                continue; // someone else acquired it in between: look again
            }

            // Held by another session: release it from that one (and bind to ours) only if nothing changed since.
            var ops = new JsonArray(CheckIndex(key, entry!.ModifyIndex), Op("unlock", key, value, holder));
            if (session is not null) ops.Add(Op("lock", key, value, session));
            var (committed, failedOp, what, endpoint) = await TxnAsync(ops, operation, ct).ConfigureAwait(false);
            if (committed) return;
            if (failedOp is > 0)
                throw new ServiceRegistryException($"Consul at {RegistryHttp.Display(endpoint)} refused to {operation}: {what}");
        }

        throw new ServiceRegistryException($"Could not {operation} on {Description}: the key kept changing under {MaxAttempts} attempts.");
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string key, CancellationToken ct = default)
    {
        RequireKey(key);
        var operation = $"delete '{key}'";
        var response = await SendAsync(HttpMethod.Delete, KvPath(key), null, operation, ct).ConfigureAwait(false);
        EnsureSuccess(response, operation);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The prefix is empty: that would delete every key in the datacenter.</exception>
    public async Task DeletePrefixAsync(string prefix, CancellationToken ct = default)
    {
        EtcdRegistry.RequirePrefixToDelete(prefix);
        var operation = $"delete keys under '{prefix}'";
        var response = await SendAsync(HttpMethod.Delete, KvPath(prefix) + "?recurse", null, operation, ct).ConfigureAwait(false);
        EnsureSuccess(response, operation);
    }

    /// <inheritdoc />
    public async Task<bool> CompareAndSwapAsync(string key, string? expected, string value, long? leaseId = null, CancellationToken ct = default)
    {
        RequireKey(key);
        ArgumentNullException.ThrowIfNull(value);
        var operation = expected is null ? $"create '{key}' if absent" : $"compare-and-swap '{key}'";
        var session = leaseId is { } id ? await RequireSessionAsync(id, operation, ct).ConfigureAwait(false) : null;

        ConsulEntry? entry = null;
        if (expected is not null)
        {
            entry = await ReadEntryAsync(key, ct).ConfigureAwait(false);
            if (entry is null || entry.Value != expected) return false;
        }

        if (session is null && entry?.Session is null)
        {
            // The documented check-and-set: cas=0 writes only if the key does not exist, cas=N only if its
            // ModifyIndex is still N.
            var cas = (entry?.ModifyIndex ?? 0).ToString(CultureInfo.InvariantCulture);
            var response = await SendAsync(HttpMethod.Put, KvPath(key) + "?cas=" + cas, value, operation, ct).ConfigureAwait(false);
            EnsureSuccess(response, operation);
            return IsTrue(response);
        }

        // A check and a (re)binding that must happen together: one transaction.
        var ops = new JsonArray(entry is null ? Op("check-not-exists", key) : CheckIndex(key, entry.ModifyIndex));
        if (entry?.Session is { } holder && holder != session) ops.Add(Op("unlock", key, value, holder));
        if (session is not null) ops.Add(Op("lock", key, value, session));
        var (committed, failedOp, what, endpoint) = await TxnAsync(ops, operation, ct).ConfigureAwait(false);
        if (committed) return true;
        if (failedOp is 0) return false; // the check failed: someone else got there first
        throw new ServiceRegistryException($"Consul at {RegistryHttp.Display(endpoint)} refused to {operation}: {what}");
    }

    /// <inheritdoc />
    public Task<bool> PutIfHeldAsync(LeaseFence fence, string key, string value, CancellationToken ct = default)
    {
        RequireKey(key);
        ArgumentNullException.ThrowIfNull(value);
        return FencedAsync(fence, Op("set", key, value), $"put '{key}' holding {fence.LockKey}", ct);
    }

    /// <inheritdoc />
    public Task<bool> DeleteIfHeldAsync(LeaseFence fence, string key, CancellationToken ct = default)
    {
        RequireKey(key);
        return FencedAsync(fence, Op("delete", key), $"delete '{key}' holding {fence.LockKey}", ct);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The prefix is empty: that would delete every key in the datacenter.</exception>
    public Task<bool> DeletePrefixIfHeldAsync(LeaseFence fence, string prefix, CancellationToken ct = default)
    {
        EtcdRegistry.RequirePrefixToDelete(prefix);
        return FencedAsync(fence, Op("delete-tree", prefix), $"delete keys under '{prefix}' holding {fence.LockKey}", ct);
    }

    /// <summary>One transaction: <c>check-session</c> (the lock key is held by the fence's session), then <paramref name="write"/>.</summary>
    private async Task<bool> FencedAsync(LeaseFence fence, JsonObject write, string operation, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(fence);
        RequireKey(fence.LockKey);
        if (await FindSessionAsync(fence.LeaseId, operation, ct).ConfigureAwait(false) is not { } session)
        {
            return false; // the session is gone: nothing can be held by it
        }

        var (committed, failedOp, what, endpoint) = await TxnAsync(new JsonArray(Op("check-session", fence.LockKey, session: session), write), operation, ct)
            .ConfigureAwait(false);
        if (committed) return true;
        if (failedOp is 0) return false; // the check failed: the lock is not held by that session
        throw new ServiceRegistryException($"Consul at {RegistryHttp.Display(endpoint)} refused to {operation}: {what}");
    }

    /// <inheritdoc />
    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        if (ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A lease needs a positive TTL.");
        if (ttl < _minimumSessionTtl) ttl = _minimumSessionTtl;
        var seconds = (long)Math.Ceiling(ttl.TotalSeconds);
        var operation = $"create a session with a TTL of {seconds} s";
        var body = new JsonObject
        {
            ["Name"] = "pipeline-lease",
            ["TTL"] = $"{seconds}s",
            ["Behavior"] = "delete",
            ["LockDelay"] = "0s",
        }.ToJsonString();
        var response = await SendAsync(HttpMethod.Put, "v1/session/create", body, operation, ct).ConfigureAwait(false);
        EnsureSuccess(response, operation);
        var id = ParseJson(response, operation).TryGetProperty("ID", out var idElement) ? idElement.GetString() : null;
        if (string.IsNullOrEmpty(id))
            throw new ServiceRegistryException($"Consul at {RegistryHttp.Display(response.Endpoint)} created no session id: {response.Body}");
        var leaseId = LeaseIdOf(id);
        _sessions[leaseId] = id;
        return leaseId;
    }

    /// <inheritdoc />
    public async Task<bool> KeepAliveAsync(long leaseId, CancellationToken ct = default)
    {
        var operation = $"renew lease {leaseId}";
        var session = await FindSessionAsync(leaseId, operation, ct).ConfigureAwait(false);
        if (session is null) return false;
        var response = await SendAsync(HttpMethod.Put, "v1/session/renew/" + Uri.EscapeDataString(session), null, operation, ct)
            .ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound)
        {
            _sessions.TryRemove(leaseId, out _);
            return false;
        }

        EnsureSuccess(response, operation);
        return true;
    }

    /// <inheritdoc />
    public async Task RevokeLeaseAsync(long leaseId, CancellationToken ct = default)
    {
        var operation = $"revoke lease {leaseId}";
        var session = await FindSessionAsync(leaseId, operation, ct).ConfigureAwait(false);
        if (session is null) return;
        var response = await SendAsync(HttpMethod.Put, "v1/session/destroy/" + Uri.EscapeDataString(session), null, operation, ct)
            .ConfigureAwait(false);
        EnsureSuccess(response, operation);
        _sessions.TryRemove(leaseId, out _);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>The KV path of a key, each segment escaped (<c>v1/kv/pipeline/services/hello%20world</c>).</summary>
    internal static string KvPath(string key) =>
        "v1/kv/" + string.Join('/', key.Split('/').Select(Uri.EscapeDataString));

    private async Task<ConsulEntry?> ReadEntryAsync(string key, CancellationToken ct)
    {
        RequireKey(key);
        var operation = $"get '{key}'";
        var response = await SendAsync(HttpMethod.Get, KvPath(key), null, operation, ct).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.NotFound) return null;
        EnsureSuccess(response, operation);
        return ParseEntries(response, operation).FirstOrDefault(e => e.Key == key);
    }

    private async Task<string> RequireSessionAsync(long leaseId, string operation, CancellationToken ct) =>
        await FindSessionAsync(leaseId, operation, ct).ConfigureAwait(false)
        ?? throw new ServiceRegistryException($"Could not {operation} on {Description}: lease {leaseId} not found (no such Consul session; it expired or was revoked).");

    private async Task<string?> FindSessionAsync(long leaseId, string operation, CancellationToken ct)
    {
        if (_sessions.TryGetValue(leaseId, out var known)) return known;
        var response = await SendAsync(HttpMethod.Get, "v1/session/list", null, operation, ct).ConfigureAwait(false);
        EnsureSuccess(response, operation);
        var root = ParseJson(response, operation);
        if (root.ValueKind != JsonValueKind.Array) return null;
        foreach (var session in root.EnumerateArray())
        {
            if (session.TryGetProperty("ID", out var id) && id.GetString() is { } text && LeaseIdOf(text) == leaseId)
                return _sessions[leaseId] = text;
        }

        return null;
    }

    private async Task<(bool Committed, int? FailedOp, string What, Uri Endpoint)> TxnAsync(JsonArray ops, string operation, CancellationToken ct)
    {
        var response = await SendAsync(HttpMethod.Put, "v1/txn", ops.ToJsonString(), operation, ct).ConfigureAwait(false);
        if (response.Status == HttpStatusCode.Conflict)
        {
            // Rolled back: {"Results": null, "Errors": [{"OpIndex": 0, "What": "..."}]}
            var root = ParseJson(response, operation);
            if (root.TryGetProperty("Errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
            {
                var first = errors[0];
                var index = first.TryGetProperty("OpIndex", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : (int?)null;
                var what = first.TryGetProperty("What", out var w) ? w.GetString() ?? string.Empty : string.Empty;
                return (false, index, what, response.Endpoint);
            }

            return (false, null, response.Body, response.Endpoint);
        }

        EnsureSuccess(response, operation);
        return (true, null, string.Empty, response.Endpoint);
    }

    private Task<RegistryResponse> SendAsync(HttpMethod method, string path, string? body, string operation, CancellationToken ct, bool retry = true) =>
        _http.SendAsync(
            endpoint =>
            {
                var request = new HttpRequestMessage(method, new Uri(endpoint, path));
                if (body is not null) request.Content = new StringContent(body, Encoding.UTF8);
                return request;
            },
            operation,
            ct,
            retry);

    /// <summary>
    /// Answers worth retrying: 502, 503, 504 (an agent or proxy in between that cannot reach the servers) and a
    /// 500 that says the servers are between leaders or unreachable. Other 500s (an invalid session, a bad TTL)
    /// are answers about the request and fail at once.
    /// </summary>
    private static bool IsTransient(RegistryResponse response) =>
        (int)response.Status is 502 or 503 or 504
        || ((int)response.Status == 500 && TransientServerErrors.Any(e => response.Body.Contains(e, StringComparison.OrdinalIgnoreCase)));

    private static JsonObject Op(string verb, string key, string? value = null, string? session = null)
    {
        var kv = new JsonObject { ["Verb"] = verb, ["Key"] = key };
        if (value is not null) kv["Value"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
        if (session is not null) kv["Session"] = session;
        return new JsonObject { ["KV"] = kv };
    }

    private static JsonObject CheckIndex(string key, long index)
    {
        var op = Op("check-index", key);
        op["KV"]!["Index"] = index;
        return op;
    }

    private static bool IsTrue(RegistryResponse response) => response.Body.Trim() == "true";

    private static void EnsureSuccess(RegistryResponse response, string operation)
    {
        if (response.IsSuccess) return;
        var body = response.Body.Trim();
        var answer = body.Length == 0 ? $"HTTP {(int)response.Status} {response.Status}" : $"HTTP {(int)response.Status}: {body}";
        throw new ServiceRegistryException($"Consul at {RegistryHttp.Display(response.Endpoint)} refused to {operation}: {answer}");
    }

    private static JsonElement ParseJson(RegistryResponse response, string operation)
    {
        try
        {
            return JsonDocument.Parse(response.Body).RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ServiceRegistryException(
                $"Consul at {RegistryHttp.Display(response.Endpoint)} answered {operation} with something that is not JSON: {response.Body}", e);
        }
    }

    private static IEnumerable<ConsulEntry> ParseEntries(RegistryResponse response, string operation)
    {
        var root = ParseJson(response, operation);
        if (root.ValueKind != JsonValueKind.Array) yield break;
        foreach (var e in root.EnumerateArray())
        {
            var value = e.TryGetProperty("Value", out var v) && v.ValueKind == JsonValueKind.String
                ? Encoding.UTF8.GetString(Convert.FromBase64String(v.GetString()!))
                : string.Empty;
            var session = e.TryGetProperty("Session", out var s) && s.ValueKind == JsonValueKind.String && s.GetString() is { Length: > 0 } sid
                ? sid
                : null;
            yield return new ConsulEntry(e.GetProperty("Key").GetString()!, value, e.GetProperty("ModifyIndex").GetInt64(), session);
        }
    }

    private static void RequireKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0) throw new ArgumentException("A registry key cannot be empty.", nameof(key));
    }

    private sealed record ConsulEntry(string Key, string Value, long ModifyIndex, string? Session);
}
