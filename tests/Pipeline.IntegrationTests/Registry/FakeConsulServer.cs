using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>
/// An in-process stand-in for a Consul agent on 127.0.0.1 (ephemeral port), because no Consul server can run
/// here. It serves exactly the part of Consul's HTTP API that <c>ConsulRegistry</c> uses, with Consul's
/// documented semantics:
/// <list type="bullet">
/// <item><c>GET /v1/status/leader</c>.</item>
/// <item><c>GET /v1/kv/&lt;key&gt;[?recurse]</c>: a JSON array of entries (<c>CreateIndex</c>, <c>ModifyIndex</c>,
/// <c>LockIndex</c>, <c>Key</c>, <c>Flags</c>, base64 <c>Value</c>, <c>Session</c>) sorted by key; 404 when nothing
/// matches.</item>
/// <item><c>PUT /v1/kv/&lt;key&gt;</c> with the raw value as body, optionally <c>?cas=&lt;ModifyIndex&gt;</c> (0: only if
/// absent), <c>?acquire=&lt;session&gt;</c> or <c>?release=&lt;session&gt;</c> (as in Consul, acquire/release win over
/// cas); answers <c>true</c>/<c>false</c>; acquiring with an unknown session is a 500 "invalid session".</item>
/// <item><c>DELETE /v1/kv/&lt;key&gt;[?recurse][?cas=N]</c>: answers <c>true</c> (also for a missing key).</item>
/// <item><c>PUT /v1/txn</c> with KV verbs <c>set</c>, <c>cas</c>, <c>lock</c>, <c>unlock</c>, <c>delete</c>, <c>delete-tree</c>,
/// <c>check-index</c>, <c>check-not-exists</c>, <c>check-session</c>: all or nothing; 409 with <c>Errors</c> (<c>OpIndex</c>, <c>What</c>)
/// when rolled back.</item>
/// <item><c>PUT /v1/session/create</c> (<c>TTL</c>, <c>Behavior</c>, <c>LockDelay</c>, <c>Name</c>; TTL must lie between
/// <see cref="SessionTtlMin"/> and 24 h), <c>PUT /v1/session/renew/&lt;id&gt;</c> (404 when gone),
/// <c>PUT /v1/session/destroy/&lt;id&gt;</c> (<c>true</c>, also when gone), <c>GET /v1/session/list</c>.</item>
/// </list>
/// Every write takes the next Raft-like index. A session is invalidated when it has not been renewed for twice
/// its TTL (Consul's own multiplier; Consul only promises "not before the TTL"); invalidation applies its
/// Behavior (delete or release) to the keys it holds and blocks them for its lock delay (15 s by default).
/// With <see cref="RequiredToken"/> set, requests without that <c>X-Consul-Token</c> (or <c>?token=</c>) get
/// 403 "Permission denied", as with ACLs enabled and an anonymous token that may do nothing.
/// </summary>
internal sealed class FakeConsulServer : IDisposable
{
    private static readonly TimeSpan SessionTtlMax = TimeSpan.FromHours(24);
    private const int SessionTtlMultiplier = 2;

    private readonly HttpListener _listener;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly SortedDictionary<string, Entry> _kv = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _lockDelays = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _index = 1;

    /// <summary>Starts listening on 127.0.0.1 on a free port.</summary>
    public FakeConsulServer(TimeSpan? sessionTtlMin = null, string? requiredToken = null, TimeProvider? timeProvider = null)
    {
        SessionTtlMin = sessionTtlMin ?? TimeSpan.FromSeconds(10);
        RequiredToken = requiredToken;
        _time = timeProvider ?? TimeProvider.System;
        (_listener, Address) = Listen();
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Where the fake agent listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Address { get; }

    /// <summary>The server's <c>session_ttl_min</c>: Consul's default is 10 s; tests lower it as an operator can.</summary>
    public TimeSpan SessionTtlMin { get; }

    /// <summary>When set, the only ACL token that may do anything.</summary>
    public string? RequiredToken { get; }

    /// <summary>How many requests arrived, for tests that check a request was (not) made.</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    private int _requestCount;

    /// <summary>Every <c>X-Consul-Token</c> value received, in order (empty string when absent).</summary>
    public IReadOnlyList<string> TokensSeen
    {
        get { lock (_tokensSeen) return _tokensSeen.ToArray(); }
    }

    private readonly List<string> _tokensSeen = [];

    public void Dispose()
    {
        _stop.Cancel();
        try { _listener.Stop(); } catch (ObjectDisposedException) { }
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _stop.Dispose();
    }

    private static (HttpListener, Uri) Listen()
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var address = new Uri($"http://127.0.0.1:{port}/");
            var listener = new HttpListener();
            listener.Prefixes.Add(address.ToString());
            try
            {
                listener.Start();
                return (listener, address);
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close(); // the port was taken in between: pick another
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            _ = Task.Run(() => Serve(context));
        }
    }

    private void Serve(HttpListenerContext context)
    {
        Interlocked.Increment(ref _requestCount);
        Reply reply;
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                body = reader.ReadToEnd();
            reply = Handle(context.Request, body);
        }
        catch (Exception e)
        {
            reply = new Reply(500, e.Message);
        }

        try
        {
            var response = context.Response;
            response.StatusCode = reply.Status;
            response.ContentType = reply.Json ? "application/json" : "text/plain; charset=utf-8";
            response.Headers["X-Consul-Index"] = Interlocked.Read(ref _index).ToString(CultureInfo.InvariantCulture);
            var bytes = Encoding.UTF8.GetBytes(reply.Body);
            response.ContentLength64 = bytes.Length;
            response.OutputStream.Write(bytes);
            response.Close();
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (HttpListenerException)
        {
            // the client went away
        }
    }

    private Reply Handle(HttpListenerRequest request, string body)
    {
        var query = System.Web.HttpUtility.ParseQueryString(request.Url!.Query);
        var token = request.Headers["X-Consul-Token"] ?? query["token"] ?? string.Empty;
        lock (_tokensSeen) _tokensSeen.Add(token);
        if (RequiredToken is not null && token != RequiredToken)
            return new Reply(403, "Permission denied");

        // The raw path, so an escaped '/' inside a segment stays part of the key.
        var rawPath = request.Url.AbsolutePath;
        var method = request.HttpMethod;

        lock (_gate)
        {
            ExpireSessions();

            if (rawPath.StartsWith("/v1/kv/", StringComparison.Ordinal))
            {
                var key = Uri.UnescapeDataString(rawPath["/v1/kv/".Length..]);
                return method switch
                {
                    "GET" => KvGet(key, query.AllKeys.Contains("recurse") || query.GetValues(null)?.Contains("recurse") == true),
                    "PUT" => KvPut(key, body, query),
                    "DELETE" => KvDelete(key, query),
                    _ => new Reply(405, $"method {method} not allowed"),
                };
            }

            return (method, rawPath) switch
            {
                ("GET", "/v1/status/leader") => new Reply(200, "\"127.0.0.1:8300\"", Json: true),
                ("PUT", "/v1/txn") => Txn(body),
                ("PUT", "/v1/session/create") => SessionCreate(body),
                ("GET", "/v1/session/list") => SessionList(),
                ("PUT", _) when rawPath.StartsWith("/v1/session/renew/", StringComparison.Ordinal) =>
                    SessionRenew(Uri.UnescapeDataString(rawPath["/v1/session/renew/".Length..])),
                ("PUT", _) when rawPath.StartsWith("/v1/session/destroy/", StringComparison.Ordinal) =>
                    SessionDestroy(Uri.UnescapeDataString(rawPath["/v1/session/destroy/".Length..])),
                _ => new Reply(404, $"no handler for {method} {rawPath}"),
            };
        }
    }

    // ---- KV ----------------------------------------------------------------------------------------------------

    private Reply KvGet(string key, bool recurse)
    {
        var entries = recurse
            ? _kv.Values.Where(e => e.Key.StartsWith(key, StringComparison.Ordinal)).ToList()
            : _kv.TryGetValue(key, out var one) ? [one] : [];
        if (entries.Count == 0) return new Reply(404, string.Empty);
        var array = new JsonArray(entries.Select(e => (JsonNode)e.ToJson()).ToArray());
        return new Reply(200, array.ToJsonString(), Json: true);
    }

    private Reply KvPut(string key, string body, System.Collections.Specialized.NameValueCollection query)
    {
        if (key.Length == 0) return new Reply(400, "Missing key name");
        var value = Encoding.UTF8.GetBytes(body);
        // Consul's kvs endpoint: cas is read first, then acquire, then release; the last one present wins.
        if (query["release"] is { } release) return Bool(Unlock(key, value, release, out _));
        if (query["acquire"] is { } acquire)
        {
            if (!_sessions.ContainsKey(acquire)) return new Reply(500, $"invalid session \"{acquire}\"");
            return Bool(Lock(key, value, acquire, out _));
        }

        if (query["cas"] is { } casText)
        {
            if (!long.TryParse(casText, NumberStyles.None, CultureInfo.InvariantCulture, out var cas))
                return new Reply(400, $"Invalid CAS index: {casText}");
            return Bool(Cas(key, value, cas));
        }

        Set(key, value);
        return Bool(true);
    }

    private Reply KvDelete(string key, System.Collections.Specialized.NameValueCollection query)
    {
        if (query.AllKeys.Contains("recurse") || query.GetValues(null)?.Contains("recurse") == true)
        {
            foreach (var k in _kv.Keys.Where(k => k.StartsWith(key, StringComparison.Ordinal)).ToList()) _kv.Remove(k);
            _index++;
            return Bool(true);
        }

        if (query["cas"] is { } casText)
        {
            var cas = long.Parse(casText, CultureInfo.InvariantCulture);
            if (!_kv.TryGetValue(key, out var existing)) return Bool(cas == 0);
            if (existing.ModifyIndex != cas) return Bool(false);
        }

        _kv.Remove(key);
        _index++;
        return Bool(true);
    }

    private void Set(string key, byte[] value)
    {
        var index = ++_index;
        if (_kv.TryGetValue(key, out var existing))
        {
            // A plain set keeps any lock holder, as Consul's kvsSetTxn does when not updating the session.
            existing.Value = value;
            existing.ModifyIndex = index;
        }
        else
        {
            _kv[key] = new Entry(key) { Value = value, CreateIndex = index, ModifyIndex = index };
        }
    }

    private bool Cas(string key, byte[] value, long cas)
    {
        var exists = _kv.TryGetValue(key, out var existing);
        if (cas == 0 && exists) return false;
        if (cas != 0 && (!exists || existing!.ModifyIndex != cas)) return false;
        Set(key, value);
        return true;
    }

    private bool Lock(string key, byte[] value, string session, out string why)
    {
        why = string.Empty;
        if (!_sessions.ContainsKey(session))
        {
            why = $"invalid session \"{session}\"";
            return false;
        }

        if (_lockDelays.TryGetValue(key, out var until) && _time.GetUtcNow() < until)
        {
            why = $"key \"{key}\" is in its lock delay";
            return false;
        }

        var index = ++_index;
        if (_kv.TryGetValue(key, out var existing))
        {
            if (existing.Session is { } holder && holder != session)
            {
                _index--;
                why = $"key \"{key}\" is locked by session \"{holder}\"";
                return false;
            }

            if (existing.Session != session) existing.LockIndex++;
            existing.Session = session;
            existing.Value = value;
            existing.ModifyIndex = index;
        }
        else
        {
            _kv[key] = new Entry(key) { Value = value, CreateIndex = index, ModifyIndex = index, LockIndex = 1, Session = session };
        }

        return true;
    }

    private bool Unlock(string key, byte[] value, string session, out string why)
    {
        why = string.Empty;
        if (!_kv.TryGetValue(key, out var existing) || existing.Session != session)
        {
            why = $"key \"{key}\" is not locked by session \"{session}\"";
            return false;
        }

        existing.Session = null;
        existing.Value = value;
        existing.ModifyIndex = ++_index;
        return true;
    }

    // ---- Transactions ------------------------------------------------------------------------------------------

    private Reply Txn(string body)
    {
        JsonArray ops;
        try
        {
            ops = JsonNode.Parse(body) as JsonArray ?? throw new JsonException("not an array");
        }
        catch (JsonException e)
        {
            return new Reply(400, $"Failed to parse body: {e.Message}");
        }

        // All or nothing: work on copies and keep them only when every operation succeeds.
        var kvBackup = _kv.ToDictionary(p => p.Key, p => p.Value.Clone(), StringComparer.Ordinal);
        var indexBackup = _index;
        var results = new JsonArray();
        for (var i = 0; i < ops.Count; i++)
        {
            var kv = ops[i]?["KV"];
            if (kv is null) return new Reply(400, $"operation {i} has no KV part (only KV operations are served here)");
            var verb = (string?)kv["Verb"] ?? string.Empty;
            var key = (string?)kv["Key"] ?? string.Empty;
            var value = kv["Value"] is { } v ? Convert.FromBase64String((string)v!) : [];
            var session = (string?)kv["Session"] ?? string.Empty;
            var index = kv["Index"] is { } ix ? (long)ix : 0;

            string? error = verb switch
            {
                "set" => Do(() => Set(key, value)),
                "cas" => Cas(key, value, index) ? null : $"failed to set key \"{key}\", index is stale",
                "lock" => Lock(key, value, session, out var lockWhy) ? null : $"failed to lock key \"{key}\": {lockWhy}",
                "unlock" => Unlock(key, value, session, out var unlockWhy) ? null : $"failed to unlock key \"{key}\": {unlockWhy}",
                "delete" => Do(() => { _kv.Remove(key); _index++; }),
                "check-index" => _kv.TryGetValue(key, out var e) && e.ModifyIndex == index
                    ? null
                    : e is null ? $"key \"{key}\" doesn't exist" : $"current modify index {e.ModifyIndex} != {index}",
                "check-not-exists" => _kv.ContainsKey(key) ? $"key \"{key}\" exists" : null,
                "check-session" => _kv.TryGetValue(key, out var held) && held.Session == session
                    ? null
                    : $"failed session check for key \"{key}\", current session \"{(held is null ? "" : held.Session)}\" != \"{session}\"",
                "delete-tree" => Do(() =>
                {
                    foreach (var k in _kv.Keys.Where(k => k.StartsWith(key, StringComparison.Ordinal)).ToList()) _kv.Remove(k);
                    _index++;
                }),
                _ => $"unknown KV verb \"{verb}\"",
            };

            if (error is not null)
            {
                _kv.Clear();
                foreach (var (k, entry) in kvBackup) _kv[k] = entry;
                _index = indexBackup;
                var errors = new JsonArray(new JsonObject { ["OpIndex"] = i, ["What"] = error });
                return new Reply(409, new JsonObject { ["Results"] = null, ["Errors"] = errors }.ToJsonString(), Json: true);
            }

            if (_kv.TryGetValue(key, out var after) && verb is "set" or "cas" or "lock" or "unlock")
            {
                var result = after.ToJson();
                result.Remove("Value");
                results.Add(new JsonObject { ["KV"] = result });
            }
        }

        return new Reply(200, new JsonObject { ["Results"] = results, ["Errors"] = null }.ToJsonString(), Json: true);
    }

    private static string? Do(Action action)
    {
        action();
        return null;
    }

    // ---- Sessions ----------------------------------------------------------------------------------------------

    private Reply SessionCreate(string body)
    {
        var json = body.Length == 0 ? new JsonObject() : JsonNode.Parse(body) as JsonObject ?? new JsonObject();
        var ttl = TimeSpan.Zero;
        if ((string?)json["TTL"] is { Length: > 0 } ttlText)
        {
            if (!TryParseDuration(ttlText, out ttl)) return new Reply(400, $"Request decode failed: time: invalid duration \"{ttlText}\"");
            if (ttl != TimeSpan.Zero && (ttl < SessionTtlMin || ttl > SessionTtlMax))
                return new Reply(500, $"Invalid Session TTL '{ttl.Ticks * 100}', must be between [{GoDuration(SessionTtlMin)}={GoDuration(SessionTtlMax)}]");
        }

        var lockDelay = TimeSpan.FromSeconds(15);
        if ((string?)json["LockDelay"] is { Length: > 0 } delayText && !TryParseDuration(delayText, out lockDelay))
            return new Reply(400, $"Request decode failed: time: invalid duration \"{delayText}\"");
        var behavior = (string?)json["Behavior"] ?? "release";
        if (behavior is not ("release" or "delete")) return new Reply(400, $"Invalid Behavior setting '{behavior}'");

        var session = new Session(Guid.NewGuid().ToString(), (string?)json["Name"] ?? string.Empty, ttl, behavior, lockDelay, ++_index);
        Touch(session);
        _sessions[session.Id] = session;
        return new Reply(200, new JsonObject { ["ID"] = session.Id }.ToJsonString(), Json: true);
    }

    private Reply SessionRenew(string id)
    {
        if (!_sessions.TryGetValue(id, out var session)) return new Reply(404, $"Session id '{id}' not found");
        Touch(session);
        return new Reply(200, new JsonArray(session.ToJson()).ToJsonString(), Json: true);
    }

    private Reply SessionDestroy(string id)
    {
        if (_sessions.ContainsKey(id)) Invalidate(id);
        return Bool(true);
    }

    private Reply SessionList() =>
        new(200, new JsonArray(_sessions.Values.OrderBy(s => s.CreateIndex).Select(s => (JsonNode)s.ToJson()).ToArray()).ToJsonString(), Json: true);

    private void Touch(Session session) =>
        session.ExpiresAt = session.Ttl == TimeSpan.Zero ? null : _time.GetUtcNow() + session.Ttl * SessionTtlMultiplier;

    private void ExpireSessions()
    {
        var now = _time.GetUtcNow();
        foreach (var id in _sessions.Values.Where(s => s.ExpiresAt <= now).Select(s => s.Id).ToList()) Invalidate(id);
    }

    private void Invalidate(string id)
    {
        var session = _sessions[id];
        _sessions.Remove(id);
        var index = ++_index;
        foreach (var entry in _kv.Values.Where(e => e.Session == id).ToList())
        {
            if (session.LockDelay > TimeSpan.Zero) _lockDelays[entry.Key] = _time.GetUtcNow() + session.LockDelay;
            if (session.Behavior == "delete")
            {
                _kv.Remove(entry.Key);
            }
            else
            {
                entry.Session = null;
                entry.ModifyIndex = index;
            }
        }
    }

    // ---- Helpers -----------------------------------------------------------------------------------------------

    private static Reply Bool(bool value) => new(200, value ? "true" : "false", Json: true);

    /// <summary>Go's time.ParseDuration for the units Consul clients send: "10s", "1.5s", "500ms", "1m", "1h".</summary>
    private static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600) };
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal) &&
                double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                duration = TimeSpan.FromSeconds(n * seconds);
                return true;
            }
        }

        return text == "0";
    }

    private static string GoDuration(TimeSpan d) =>
        d.TotalHours >= 1 && d.Minutes == 0 && d.Seconds == 0 ? $"{(int)d.TotalHours}h0m0s" : $"{d.TotalSeconds:0.###}s";

    private sealed record Reply(int Status, string Body, bool Json = false);

    private sealed class Entry(string key)
    {
        public string Key { get; } = key;
        public byte[] Value { get; set; } = [];
        public long CreateIndex { get; set; }
        public long ModifyIndex { get; set; }
        public long LockIndex { get; set; }
        public string? Session { get; set; }

        public Entry Clone() => new(Key)
        {
            Value = Value, CreateIndex = CreateIndex, ModifyIndex = ModifyIndex, LockIndex = LockIndex, Session = Session,
        };

        public JsonObject ToJson()
        {
            var json = new JsonObject
            {
                ["LockIndex"] = LockIndex,
                ["Key"] = Key,
                ["Flags"] = 0,
                ["Value"] = Value.Length == 0 ? null : Convert.ToBase64String(Value),
                ["CreateIndex"] = CreateIndex,
                ["ModifyIndex"] = ModifyIndex,
            };
            if (Session is not null) json["Session"] = Session;
            return json;
        }
    }

    private sealed class Session(string id, string name, TimeSpan ttl, string behavior, TimeSpan lockDelay, long createIndex)
    {
        public string Id { get; } = id;
        public string Name { get; } = name;
        public TimeSpan Ttl { get; } = ttl;
        public string Behavior { get; } = behavior;
        public TimeSpan LockDelay { get; } = lockDelay;
        public long CreateIndex { get; } = createIndex;
        public DateTimeOffset? ExpiresAt { get; set; }

        public JsonObject ToJson() => new()
        {
            ["ID"] = Id,
            ["Name"] = Name,
            ["Node"] = "fake-consul",
            ["LockDelay"] = (long)LockDelay.TotalNanoseconds,
            ["Behavior"] = Behavior,
            ["TTL"] = Ttl == TimeSpan.Zero ? string.Empty : $"{Ttl.TotalSeconds:0.###}s",
            ["NodeChecks"] = new JsonArray("serfHealth"),
            ["ServiceChecks"] = null,
            ["CreateIndex"] = CreateIndex,
            ["ModifyIndex"] = CreateIndex,
        };
    }
}
