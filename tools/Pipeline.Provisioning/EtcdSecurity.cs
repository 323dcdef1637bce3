using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pipeline.Provisioning;

/// <summary>Turns etcd's authentication on. A port so the provisioning decisions can be tested without an etcd.</summary>
public interface IEtcdSecurity
{
    /// <summary>True when etcd asks clients to authenticate (asked with an empty user: no secret is sent).</summary>
    /// <exception cref="ProvisioningException">etcd does not answer the question.</exception>
    Task<bool> IsAuthenticationOnAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default);

    /// <summary>
    /// Creates (or updates) the user <c>root</c> with the role <c>root</c>, and the pipeline's user with a role of the
    /// same name that may read and write every key, then turns authentication on. Safe to repeat.
    /// </summary>
    /// <exception cref="ProvisioningException">etcd refused a step; the message names it and etcd's answer.</exception>
    Task EnableAuthenticationAsync(Uri etcd, EtcdAccounts accounts, TimeSpan timeout, CancellationToken ct = default);
}

/// <summary>The accounts provisioning gives etcd: root, and the pipeline's own user. <see cref="ToString"/> shows no password.</summary>
/// <param name="RootPassword">The password of <c>root</c>.</param>
/// <param name="User">The pipeline's user (and role) name.</param>
/// <param name="UserPassword">Its password.</param>
public sealed record EtcdAccounts(string RootPassword, string User, string UserPassword)
{
    /// <inheritdoc />
    public override string ToString() => $"EtcdAccounts {{ root, {User} (passwords ***) }}";
}

/// <summary><see cref="IEtcdSecurity"/> over etcd's v3 JSON gateway (<c>/v3/auth/*</c>), as etcdctl does it, with no password on any command line.</summary>
public sealed class EtcdGatewaySecurity : IEtcdSecurity
{
    /// <summary>etcd's gRPC code for "failed precondition": <c>authentication is not enabled</c>, <c>user name already exists</c>.</summary>
    private const int FailedPrecondition = 9;

    /// <inheritdoc />
    public async Task<bool> IsAuthenticationOnAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default)
    {
        using var http = Client(timeout);
        var (_, code, message) = await PostAsync(http, etcd, "auth/authenticate", new JsonObject { ["name"] = "", ["password"] = "" }, ct).ConfigureAwait(false);
        return !(code == FailedPrecondition && message?.Contains("not enabled", StringComparison.Ordinal) == true);
    }

    /// <inheritdoc />
    public async Task EnableAuthenticationAsync(Uri etcd, EtcdAccounts accounts, TimeSpan timeout, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        using var http = Client(timeout);
        async Task Step(string what, string path, JsonObject body, bool existingIsFine = false)
        {
            var (ok, code, message) = await PostAsync(http, etcd, path, body, ct).ConfigureAwait(false);
            if (!ok && !(existingIsFine && code == FailedPrecondition && message?.Contains("already exists", StringComparison.Ordinal) == true))
            {
                throw new ProvisioningException($"Could not turn authentication on in etcd at {etcd}: {what} failed ({message ?? "no answer"}). Nothing else was changed after that step; run the provisioning again once etcd answers.");
            }
        }

        await Step("adding user root", "auth/user/add", new JsonObject { ["name"] = "root", ["password"] = accounts.RootPassword }, existingIsFine: true).ConfigureAwait(false);
        await Step("setting root's password", "auth/user/changepw", new JsonObject { ["name"] = "root", ["password"] = accounts.RootPassword }).ConfigureAwait(false);
        await Step("granting root the root role", "auth/user/grant", new JsonObject { ["user"] = "root", ["role"] = "root" }).ConfigureAwait(false);
        await Step($"adding role {accounts.User}", "auth/role/add", new JsonObject { ["name"] = accounts.User }, existingIsFine: true).ConfigureAwait(false);
        await Step($"letting role {accounts.User} read and write every key", "auth/role/grant", new JsonObject
        {
            ["name"] = accounts.User,
            ["perm"] = new JsonObject { ["permType"] = "READWRITE", ["key"] = "AA==", ["range_end"] = "AA==" },
        }).ConfigureAwait(false);
        await Step($"adding user {accounts.User}", "auth/user/add", new JsonObject { ["name"] = accounts.User, ["password"] = accounts.UserPassword }, existingIsFine: true).ConfigureAwait(false);
        await Step($"setting {accounts.User}'s password", "auth/user/changepw", new JsonObject { ["name"] = accounts.User, ["password"] = accounts.UserPassword }).ConfigureAwait(false);
        await Step($"granting {accounts.User} its role", "auth/user/grant", new JsonObject { ["user"] = accounts.User, ["role"] = accounts.User }).ConfigureAwait(false);
        await Step("turning authentication on", "auth/enable", new JsonObject()).ConfigureAwait(false);
    }

    private static HttpClient Client(TimeSpan timeout) => new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = timeout }) { Timeout = timeout };

    /// <summary>POSTs to the gateway: success, or etcd's gRPC code and message (never the request, which may hold a password).</summary>
    private static async Task<(bool Ok, int? Code, string? Message)> PostAsync(HttpClient http, Uri etcd, string path, JsonObject body, CancellationToken ct)
    {
        try
        {
            using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(new Uri(etcd, "/v3/" + path), content, ct).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return (true, null, null);
            }

            try
            {
                var root = JsonDocument.Parse(text).RootElement;
                var code = root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : (int?)null;
                var message = root.TryGetProperty("message", out var m) ? m.GetString() : text;
                return (false, code, message);
            }
            catch (JsonException)
            {
                return (false, null, $"HTTP {(int)response.StatusCode}: {text.Trim()}");
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new ProvisioningException($"etcd at {etcd} did not answer /v3/{path} ({e.GetBaseException().Message.TrimEnd('.')}).", e);
        }
    }
}
