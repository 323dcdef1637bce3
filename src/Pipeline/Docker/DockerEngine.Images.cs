using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Pipeline.Docker;

// Images: build, tag, push, pull, import.
public sealed partial class DockerEngine
{
    /// <inheritdoc />
    public async Task<string> BuildImageAsync(ImageBuildRequest request, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var context = Path.GetFullPath(request.ContextDirectory);
        if (!Directory.Exists(context))
        {
            throw new DirectoryNotFoundException($"The build context folder '{context}' does not exist.");
        }

        if (!File.Exists(Path.Combine(context, request.Dockerfile)))
        {
            throw new FileNotFoundException($"The Dockerfile '{request.Dockerfile}' does not exist in the build context '{context}'.", Path.Combine(context, request.Dockerfile));
        }

        await using var tar = new FileStream(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
        await BuildContext.WriteAsync(context, request.Dockerfile, tar, ct).ConfigureAwait(false);
        tar.Position = 0;
        progress?.Report($"sending build context: {LayerProgress.Size(tar.Length)}");

        var parameters = new ImageBuildParameters
        {
            Dockerfile = request.Dockerfile.Replace('\\', '/'),
            Tags = request.Tags.Select(t => t.ToString()).ToList(),
            Labels = request.Labels?.ToDictionary(),
            BuildArgs = request.BuildArgs?.ToDictionary(),
            Remove = true,
            ForceRemove = true,
        };

        var layers = new LayerProgress();
        var messages = new MessageCollector(progress, m => FormatBuildMessage(m, layers));
        try
        {
            await CallAsync($"building {request.Dockerfile} in {context}", async () =>
            {
                await _client.Images.BuildImageFromDockerfileAsync(parameters, tar, null, null, messages, ct).ConfigureAwait(false);
                return true;
            }).ConfigureAwait(false);
        }
        catch (DockerEngineException e) when (e.StatusCode is 400 or 500)
        {
            // The engine refused the Dockerfile or the context before building (e.g. an unknown instruction).
            throw new ImageBuildFailedException(request, Endpoint, EngineMessage(e.ResponseBody), messages.Tail, e);
        }

        if (messages.Error is not null)
        {
            throw new ImageBuildFailedException(request, Endpoint, messages.Error, messages.Tail);
        }

        if (messages.AuxString("ID") is { Length: > 0 } id)
        {
            return id;
        }

        // Older engines only say "Successfully built <short id>"; ask for the full id.
        var reference = request.Tags.Count > 0 ? request.Tags[0].ToString() : messages.Tail.Select(SuccessfullyBuilt).LastOrDefault(s => s is not null);
        if (reference is null)
        {
            throw new ImageBuildFailedException(request, Endpoint, "the engine did not say which image it built", messages.Tail);
        }

        var image = await CallAsync($"inspecting image {reference}", () => _client.Images.InspectImageAsync(reference, ct)).ConfigureAwait(false);
        return image.ID;
    }

    /// <inheritdoc />
    public Task TagImageAsync(string source, ImageRef target, CancellationToken ct = default) =>
        CallAsync($"tagging image {source} as {target}", async () =>
        {
            await _client.Images.TagImageAsync(source, new ImageTagParameters { RepositoryName = target.Name, Tag = target.Tag }, ct).ConfigureAwait(false);
            return true;
        });

    /// <inheritdoc />
    public async Task<string> PushImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var registry = image.Registry ?? "docker.io";
        var messages = new MessageCollector(progress, new LayerProgress().Format);
        await CallAsync($"pushing image {image} to {registry}", async () =>
        {
            await _client.Images.PushImageAsync(image.Name, new ImagePushParameters { Tag = image.Tag }, ToAuthConfig(image, credentials), messages, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        if (messages.Error is not null)
        {
            throw new DockerEngineException(
                $"Pushing image {image} to {registry} on {Endpoint} failed: {messages.Error}" + TailSuffix(messages.Tail), null, messages.Error);
        }

        var digest = messages.AuxString("Digest") ?? messages.Tail.Select(DigestInStatus).LastOrDefault(d => d is not null);
        return digest ?? throw new DockerEngineException(
            $"Pushing image {image} to {registry} on {Endpoint} finished without reporting a digest." + TailSuffix(messages.Tail));
    }

    /// <inheritdoc />
    public async Task PullImageAsync(ImageRef image, RegistryCredentials? credentials = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var registry = image.Registry ?? "docker.io";
        var messages = new MessageCollector(progress, new LayerProgress().Format);
        await CallAsync($"pulling image {image} from {registry}", async () =>
        {
            await _client.Images.CreateImageAsync(new ImagesCreateParameters { FromImage = image.Name, Tag = image.Tag }, ToAuthConfig(image, credentials), messages, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        if (messages.Error is not null)
        {
            throw new DockerEngineException(
                $"Pulling image {image} from {registry} on {Endpoint} failed: {messages.Error}" + TailSuffix(messages.Tail), null, messages.Error);
        }
    }

    /// <inheritdoc />
    public Task<bool> ImageExistsAsync(string reference, CancellationToken ct = default) =>
        CallAsync($"inspecting image {reference}", async () =>
        {
            try
            {
                await _client.Images.InspectImageAsync(reference, ct).ConfigureAwait(false);
                return true;
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }
        });

    /// <inheritdoc />
    public Task<ImageInfo?> InspectImageAsync(string reference, CancellationToken ct = default) =>
        CallAsync($"inspecting image {reference}", async () =>
        {
            try
            {
                var image = await _client.Images.InspectImageAsync(reference, ct).ConfigureAwait(false);
                var ports = (image.Config?.ExposedPorts?.Keys ?? [])
                    .Where(p => p.EndsWith("/tcp", StringComparison.OrdinalIgnoreCase) || !p.Contains('/'))
                    .Select(p => int.TryParse(p.Split('/')[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) ? port : 0)
                    .Where(p => p > 0)
                    .Distinct()
                    .Order()
                    .ToList();
                return (ImageInfo?)new ImageInfo(image.ID, image.RepoDigests?.ToList() ?? [], ports, ToReadOnly(image.Config?.Labels));
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
        });

    /// <inheritdoc />
    public async Task ImportImageAsync(Stream rootfsTar, ImageRef target, IReadOnlyList<string>? changes = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(rootfsTar);
        var messages = new MessageCollector(null, FormatStatusMessage);
        var parameters = new ImagesCreateParameters { Repo = target.Name, Tag = target.Tag, Changes = changes?.ToList() };
        await CallAsync($"importing image {target}", async () =>
        {
            await _client.Images.CreateImageAsync(parameters, rootfsTar, null, messages, ct).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);

        if (messages.Error is not null)
        {
            throw new DockerEngineException($"Importing image {target} on {Endpoint} failed: {messages.Error}", null, messages.Error);
        }
    }

    private static AuthConfig? ToAuthConfig(ImageRef image, RegistryCredentials? credentials) =>
        credentials is null
            ? null
            : new AuthConfig { Username = credentials.Username, Password = credentials.Password, ServerAddress = image.Registry ?? "https://index.docker.io/v1/" };

    private static IEnumerable<string> FormatBuildMessage(JSONMessage m, LayerProgress layers)
    {
        if (!string.IsNullOrEmpty(m.Stream))
        {
            foreach (var line in m.Stream.Split('\n'))
            {
                if (line.Trim().Length > 0)
                {
                    yield return line.TrimEnd('\r');
                }
            }
        }
        else
        {
            foreach (var line in layers.Format(m))
            {
                yield return line;
            }
        }
    }

    private static IEnumerable<string> FormatStatusMessage(JSONMessage m)
    {
        // Byte-count updates ("Pushing [===>  ]") carry progress details; report only status changes.
        if (string.IsNullOrEmpty(m.Status) || m.Progress is { Current: not null } || m.Progress is { Total: not null })
        {
            yield break;
        }

        yield return string.IsNullOrEmpty(m.ID) ? m.Status : $"{m.ID}: {m.Status}";
    }

    private static string? SuccessfullyBuilt(string line) =>
        line.StartsWith("Successfully built ", StringComparison.Ordinal) ? line["Successfully built ".Length..].Trim() : null;

    private static string? DigestInStatus(string line) => DigestPattern().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"digest: (sha256:[0-9a-f]{64})")]
    private static partial Regex DigestPattern();

    /// <summary>Collects a JSON message stream synchronously (Progress&lt;T&gt; would post to the thread pool and reorder).</summary>
    private sealed class MessageCollector(IProgress<string>? progress, Func<JSONMessage, IEnumerable<string>> format) : IProgress<JSONMessage>
    {
        private readonly Queue<string> _tail = new();
        private readonly Dictionary<string, string> _aux = new(StringComparer.OrdinalIgnoreCase);

        public string? Error { get; private set; }

        public IReadOnlyList<string> Tail => _tail.ToList();

        public string? AuxString(string key) => _aux.GetValueOrDefault(key);

        public void Report(JSONMessage value)
        {
            foreach (var line in format(value))
            {
                Remember(line);
                progress?.Report(line);
            }

            if (value.Error is { Message: { Length: > 0 } error })
            {
                Error ??= error.Trim();
                Remember(error.Trim());
            }

            if (value.Aux?.ExtensionData is { } aux)
            {
                foreach (var (key, raw) in aux)
                {
                    var text = raw switch
                    {
                        JsonElement { ValueKind: JsonValueKind.String } s => s.GetString(),
                        JsonElement other => other.ToString(),
                        string s => s,
                        _ => raw?.ToString(),
                    };
                    if (text is not null)
                    {
                        _aux[key] = text;
                    }
                }
            }
        }

        private void Remember(string line)
        {
            _tail.Enqueue(line);
            while (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }
    }
}
