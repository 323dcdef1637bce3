using System.Text;
using System.Text.Json;

namespace Pipeline.Docker;

/// <summary>
/// Credentials that <c>docker login</c> saved, read the way the docker CLI reads them: <c>$DOCKER_CONFIG/config.json</c>,
/// else <c>~/.docker/config.json</c>; the <c>auths</c> entry whose key names the registry (<c>host:port</c>, with or
/// without a scheme or path: <c>https://host:port/v1/</c>), holding <c>auth</c> (base64 of <c>user:password</c>) or
/// <c>username</c> and <c>password</c>. Credential helpers (<c>credsStore</c>, <c>credHelpers</c>) are not run.
/// </summary>
public static class DockerConfigCredentials
{
    /// <summary>The config file the docker CLI reads: <c>$DOCKER_CONFIG/config.json</c>, else <c>$HOME/.docker/config.json</c>.</summary>
    public static string ConfigPath(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (environment("DOCKER_CONFIG") is { Length: > 0 } folder)
        {
            return Path.Combine(folder, "config.json");
        }

        var home = environment("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".docker", "config.json");
    }

    /// <summary>The saved credentials for <paramref name="registry"/> (<c>host[:port]</c>), or null when none are saved.</summary>
    /// <exception cref="DockerConfigException">The file exists but is not a docker config, or its entry for the registry cannot be read.</exception>
    public static RegistryCredentials? Find(string registry, Func<string, string?> environment)
    {
        var path = ConfigPath(environment);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DockerConfigException($"The docker config {path} cannot be read ({e.Message}); fix its permissions, or set DOCKER_CONFIG to a folder holding a readable config.json.", e);
        }

        return Find(registry, text, path);
    }

    /// <summary>The credentials for <paramref name="registry"/> in a config's JSON text (<paramref name="path"/> names it in messages).</summary>
    /// <exception cref="DockerConfigException">The text is not a docker config, or the entry cannot be read.</exception>
    public static RegistryCredentials? Find(string registry, string configJson, string path)
    {
        ArgumentNullException.ThrowIfNull(registry);
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(configJson, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new DockerConfigException($"The docker config {path} is not JSON ({e.Message}); fix it or run docker login again.", e);
        }

        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object
                || !json.RootElement.TryGetProperty("auths", out var auths)
                || auths.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var wanted = Normalize(registry);
            foreach (var entry in auths.EnumerateObject())
            {
                if (!string.Equals(Normalize(entry.Name), wanted, StringComparison.OrdinalIgnoreCase) || entry.Value.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                if (entry.Value.TryGetProperty("auth", out var auth) && auth.ValueKind == JsonValueKind.String && auth.GetString() is { Length: > 0 } encoded)
                {
                    string decoded;
                    try
                    {
                        decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
                    }
                    catch (FormatException e)
                    {
                        throw new DockerConfigException($"The docker config {path}: the auth of {entry.Name} is not base64; run docker login {registry} again.", e);
                    }

                    var colon = decoded.IndexOf(':');
                    return colon > 0
                        ? new RegistryCredentials(decoded[..colon], decoded[(colon + 1)..])
                        : throw new DockerConfigException($"The docker config {path}: the auth of {entry.Name} is not user:password in base64; run docker login {registry} again.");
                }

                if (Text(entry.Value, "username") is { } user && Text(entry.Value, "password") is { } password)
                {
                    return new RegistryCredentials(user, password);
                }
            }

            return null;
        }
    }

    /// <summary><c>https://Host:5000/v1/</c> → <c>host:5000</c>; Docker Hub's names → <c>docker.io</c>.</summary>
    internal static string Normalize(string key)
    {
        var name = key.Trim();
        var scheme = name.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            name = name[(scheme + 3)..];
        }

        var slash = name.IndexOf('/');
        if (slash >= 0)
        {
            name = name[..slash];
        }

        name = name.ToLowerInvariant();
        return name is "index.docker.io" or "registry-1.docker.io" ? "docker.io" : name;
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;
}

/// <summary>The docker CLI's config file cannot be used; the message names the file and the fix.</summary>
public sealed class DockerConfigException(string message, Exception? inner = null) : Exception(message, inner);
