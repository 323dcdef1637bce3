using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Pipeline.Configuration;
using Pipeline.Preflight;

namespace Pipeline.Docker;

/// <summary>
/// Lists the tags an image registry holds for a repository (<c>GET /v2/{repository}/tags/list</c>, Docker Registry HTTP API
/// v2), by Docker's transport rules (<see cref="ImageRegistryTransport"/>: HTTPS, plain HTTP only on loopback or for an
/// insecure registry), answering a Bearer-token challenge with the registry's credentials.
/// </summary>
public static class ImageRegistryTags
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The tags of <paramref name="repository"/> at <paramref name="registry"/> (<c>host:port</c>), sorted; empty when it has none.</summary>
    /// <exception cref="ImageRegistryException">The registry does not answer, refuses the credentials, or answers something else than a tag list.</exception>
    public static async Task<IReadOnlyList<string>> ListAsync(
        string registry, string repository, RegistryCredentials? credentials, DeploymentOptions options, CancellationToken ct = default)
    {
        var path = $"/v2/{repository}/tags/list";
        try
        {
            using var transport = new ImageRegistryTransport(registry, options, Timeout);
            var (response, url) = await transport.SendAsync(HttpMethod.Get, path, credentials, null, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized && credentials is not null
                && response.Headers.WwwAuthenticate.FirstOrDefault(h => h.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) is { } challenge
                && await TokenAsync(transport, challenge, credentials, repository, ct).ConfigureAwait(false) is { } token)
            {
                response.Dispose();
                (response, url) = await transport.SendAsync(HttpMethod.Get, path, new AuthenticationHeaderValue("Bearer", token), null, ct).ConfigureAwait(false);
            }

            using (response)
            {
                return await ReadAsync(response, url, registry, repository, credentials, ct).ConfigureAwait(false);
            }
        }
        catch (ImageRegistryTransportException e)
        {
            throw new ImageRegistryException($"The image registry {registry}: {e.Message}.", e);
        }
        catch (HttpRequestException e)
        {
            throw new ImageRegistryException($"The image registry {registry} does not answer GET {path} ({e.Message}).", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new ImageRegistryException($"The image registry {registry} did not answer GET {path} within {Timeout.TotalSeconds:0} s.", e);
        }
    }

    private static async Task<IReadOnlyList<string>> ReadAsync(
        HttpResponseMessage response, Uri url, string registry, string repository, RegistryCredentials? credentials, CancellationToken ct)
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

    private static async Task<string?> TokenAsync(ImageRegistryTransport transport, AuthenticationHeaderValue challenge, RegistryCredentials credentials, string repository, CancellationToken ct)
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
        using var response = await transport.SendToRealmAsync(new Uri($"{realmUrl}{(realmUrl.Query.Length > 0 ? "&" : "?")}{string.Join('&', query)}"), credentials, ct).ConfigureAwait(false);
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
