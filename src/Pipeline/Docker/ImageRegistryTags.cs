using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;

namespace Pipeline.Docker;

/// <summary>
/// Lists the tags an image registry holds for a repository (<c>GET /v2/{repository}/tags/list</c>, Docker Registry HTTP API
/// v2), answering HTTP Basic and Bearer-token challenges with the registry's credentials. HTTPS first; plain HTTP when the
/// registry does not speak TLS (as Docker does for an insecure registry).
/// </summary>
public static class ImageRegistryTags
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The tags of <paramref name="repository"/> at <paramref name="registry"/> (<c>host:port</c>), sorted; empty when it has none.</summary>
    /// <exception cref="ImageRegistryException">The registry does not answer, refuses the credentials, or answers something else than a tag list.</exception>
    public static async Task<IReadOnlyList<string>> ListAsync(string registry, string repository, RegistryCredentials? credentials, CancellationToken ct = default)
    {
        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = Timeout, UseProxy = false }) { Timeout = Timeout };
        var path = $"/v2/{repository}/tags/list";
        Uri url;
        HttpResponseMessage response;
        try
        {
            url = new Uri($"https://{registry}{path}");
            try
            {
                response = await SendAsync(http, url, credentials, repository, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (e.InnerException is AuthenticationException or IOException || e.HttpRequestError == HttpRequestError.SecureConnectionError)
            {
                url = new Uri($"http://{registry}{path}");
                response = await SendAsync(http, url, credentials, repository, ct).ConfigureAwait(false);
            }
        }
        catch (HttpRequestException e)
        {
            throw new ImageRegistryException($"The image registry {registry} does not answer GET {path} ({e.Message}).", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new ImageRegistryException($"The image registry {registry} did not answer GET {path} within {Timeout.TotalSeconds:0} s.", e);
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return [];
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                throw new ImageRegistryException(credentials is null
                    ? $"The image registry {registry} asks for credentials to list {repository}: docker login {registry}, or set --registry-username and PIPELINE_REGISTRY_PASSWORD."
                    : $"The image registry {registry} refused the credentials of {credentials.Username} to list {repository} (GET {url} answered 401).");
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new ImageRegistryException($"The image registry {registry} answered GET {url} with {(int)response.StatusCode} {response.ReasonPhrase}.");
            }

            try
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
                return json.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array
                    ? tags.EnumerateArray().Select(t => t.GetString()).OfType<string>().Order(StringComparer.Ordinal).ToList()
                    : [];
            }
            catch (JsonException e)
            {
                throw new ImageRegistryException($"The image registry {registry} answered GET {url} with something else than a tag list ({e.Message}).", e);
            }
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, Uri url, RegistryCredentials? credentials, string repository, CancellationToken ct)
    {
        var response = await http.GetAsync(url, ct).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized || credentials is null)
        {
            return response;
        }

        var challenge = response.Headers.WwwAuthenticate.FirstOrDefault();
        response.Dispose();
        var basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credentials.Username}:{credentials.Password}")));
        AuthenticationHeaderValue authorization = basic;
        if (challenge?.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) == true && await TokenAsync(http, challenge, basic, repository, ct).ConfigureAwait(false) is { } token)
        {
            authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = authorization;
        return await http.SendAsync(request, ct).ConfigureAwait(false);
    }

    private static async Task<string?> TokenAsync(HttpClient http, AuthenticationHeaderValue challenge, AuthenticationHeaderValue basic, string repository, CancellationToken ct)
    {
        var parameters = (challenge.Parameter ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim().Trim('"'), StringComparer.OrdinalIgnoreCase);
        if (!parameters.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUrl))
        {
            return null;
        }

        var query = new List<string>();
        if (parameters.TryGetValue("service", out var service))
        {
            query.Add($"service={Uri.EscapeDataString(service)}");
        }

        query.Add($"scope={Uri.EscapeDataString(parameters.GetValueOrDefault("scope") ?? $"repository:{repository}:pull")}");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{realmUrl}{(realmUrl.Query.Length > 0 ? "&" : "?")}{string.Join('&', query)}");
        request.Headers.Authorization = basic;
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
        return json.RootElement.TryGetProperty("token", out var token) ? token.GetString()
            : json.RootElement.TryGetProperty("access_token", out var access) ? access.GetString()
            : null;
    }
}

/// <summary>An image registry did not answer as expected; the message names it and what it answered.</summary>
public sealed class ImageRegistryException(string message, Exception? inner = null) : Exception(message, inner);
