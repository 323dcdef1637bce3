using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Pipeline.Configuration;
using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;

namespace Pipeline.Preflight;

/// <summary>
/// Checks, with short timeouts and without changing anything, that everything a deploy will need answers:
/// the CD and production engines, the service registry, the image registry (and its credentials), the proxy
/// port, the proxy image and the proxy template. Every problem names the bad value and the fix.
/// Option values themselves are checked by <see cref="OptionResolver.Validate"/> (the Dockerfiles too).
/// </summary>
/// <param name="options">Validated options.</param>
/// <param name="cdEngine">Creates (or returns) the CD engine client.</param>
/// <param name="productionEngine">Creates (or returns) the production engine client.</param>
/// <param name="serviceRegistry">Creates (or returns) the service registry client.</param>
/// <param name="timeout">How long each check may take; the checks run side by side. The default is 5 seconds.</param>
/// <param name="dockerCertsFolder">Where image registries' CA certificates are looked for as Docker does (<c>{folder}/{host:port}/*.crt</c>). The default is <c>/etc/docker/certs.d</c>.</param>
public sealed class PreflightChecks(
    DeploymentOptions options,
    Func<IDockerEngine> cdEngine,
    Func<IDockerEngine> productionEngine,
    Func<IServiceRegistry> serviceRegistry,
    TimeSpan? timeout = null,
    string? dockerCertsFolder = null)
{
    private static readonly string[] ManifestTypes =
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ];

    private readonly TimeSpan _timeout = timeout ?? TimeSpan.FromSeconds(5);
    private readonly string _dockerCertsFolder = dockerCertsFolder ?? ImageRegistryTransport.DockerCertsFolder;

    /// <summary>Runs every check; returns one line per problem (empty when all is well).</summary>
    public async Task<IReadOnlyList<string>> RunAsync(CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sameEngine = options.ProductionEngine == options.CdEngine;
        var cd = CheckEngineAsync("CD engine", cdEngine, "--docker-host=unix:///var/run/docker.sock (or DOCKER_HOST)", ct);
        var production = sameEngine
            ? cd
            : CheckEngineAsync("production engine", productionEngine, "--production-docker-host=tcp://HOST:2376 (or PRODUCTION_DOCKER_HOST)", ct);
        var registry = CheckServiceRegistryAsync(ct);
        var imageRegistry = CheckImageRegistryAsync(ct);
        var template = Task.Run(CheckProxyTemplate, ct);
        var (productionEngineUp, productionProblem) = await production.ConfigureAwait(false);
        var proxy = productionEngineUp ? CheckProxyAsync(productionEngine(), ct) : Task.FromResult<IReadOnlyList<string>>([]);

        var problems = new List<string>();
        problems.AddRange((await cd.ConfigureAwait(false)).Problem is { } cdProblem ? [cdProblem] : []);
        if (!sameEngine && productionProblem is not null)
        {
            problems.Add(productionProblem);
        }

        problems.AddRange(await registry.ConfigureAwait(false));
        problems.AddRange(await imageRegistry.ConfigureAwait(false));
        problems.AddRange(await proxy.ConfigureAwait(false));
        problems.AddRange(await template.ConfigureAwait(false));
        return problems;
    }

    /// <summary>Runs every check and throws <see cref="PreflightFailedException"/> listing every problem.</summary>
    public async Task EnsureAsync(CancellationToken ct = default)
    {
        var problems = await RunAsync(ct).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            throw new PreflightFailedException(problems);
        }
    }

    private async Task<(bool Up, string? Problem)> CheckEngineAsync(string what, Func<IDockerEngine> create, string fix, CancellationToken ct)
    {
        var endpoint = what == "CD engine" ? options.CdEngine : options.ProductionEngine;
        if (endpoint.Host.Scheme == "unix" && !File.Exists(endpoint.Host.LocalPath))
        {
            return (false, $"{what} {endpoint}: does not answer (no socket at {endpoint.Host.LocalPath}); start dockerd there or set {fix}");
        }

        try
        {
            using var limit = Limit(ct);
            await create().PingAsync(limit.Token).ConfigureAwait(false);
            return (true, null);
        }
        catch (DockerEngineException e) when (e.TlsRefused)
        {
            return (false, $"{what} {endpoint}: refused over TLS: {e.Message}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return (false, $"{what} {endpoint}: does not answer ({Reason(e)}); start dockerd there or set {fix}");
        }
    }

    private async Task<IReadOnlyList<string>> CheckServiceRegistryAsync(CancellationToken ct)
    {
        var endpoints = string.Join(",", options.RegistryEndpoints.Select(u => u.OriginalString));
        try
        {
            using var limit = Limit(ct);
            await serviceRegistry().PingAsync(limit.Token).ConfigureAwait(false);
            return [];
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return [e is ServiceRegistryException
                ? $"--registry-endpoints={endpoints}: {e.Message}"
                : $"--registry-endpoints={endpoints}: the {options.RegistryKind} service registry does not answer ({Reason(e)}); start it or point --registry-endpoints at it"];
        }
    }

    private async Task<IReadOnlyList<string>> CheckImageRegistryAsync(CancellationToken ct)
    {
        var registry = options.ImageRegistry;
        var credentials = options.RegistryUsername is { } user ? new RegistryCredentials(user, options.RegistryPassword ?? "") : null;
        HttpResponseMessage response;
        Uri url;
        ImageRegistryTransport transport;
        try
        {
            transport = new ImageRegistryTransport(registry, options, _timeout, _dockerCertsFolder);
        }
        catch (ImageRegistryTransportException e)
        {
            return [$"--image-registry={registry}: {e.Message}"];
        }

        using var ownedTransport = transport;
        try
        {
            (response, url) = await transport.SendAsync(HttpMethod.Get, "/v2/", credentials, null, ct).ConfigureAwait(false);
        }
        catch (ImageRegistryTransportException e)
        {
            return [$"--image-registry={registry}: {e.Message}"];
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return [$"--image-registry={registry}: the image registry does not answer GET /v2/ ({Reason(e)}); start it or set --image-registry=HOST:PORT"];
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            if (!response.Headers.TryGetValues("Docker-Distribution-API-Version", out var api) || !api.Any(v => v.StartsWith("registry/2", StringComparison.Ordinal)))
            {
                return [$"--image-registry={registry}: GET {url} answered {status} without Docker-Distribution-API-Version: registry/2.0, so it is no image registry; set --image-registry=HOST:PORT of a registry"];
            }

            if (response.StatusCode != HttpStatusCode.Unauthorized)
            {
                return response.IsSuccessStatusCode ? [] : [$"--image-registry={registry}: GET {url} answered {status} {response.ReasonPhrase}; check the registry's log"];
            }

            if (credentials is null)
            {
                return [$"--image-registry={registry}: the registry asks for credentials (GET {url} answered 401); set --registry-username and PIPELINE_REGISTRY_PASSWORD"];
            }

            var bearer = response.Headers.WwwAuthenticate.FirstOrDefault(h => h.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase));
            try
            {
                if (bearer is not null && await TokenAcceptedAsync(transport, bearer, credentials, ct).ConfigureAwait(false) is { } tokenAnswer)
                {
                    return tokenAnswer.Accepted ? [] : [WrongCredentials(credentials.Username, registry, tokenAnswer.What)];
                }
            }
            catch (ImageRegistryTransportException e)
            {
                return [$"--image-registry={registry}: {e.Message}"];
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                return [$"--image-registry={registry}: its token service does not answer ({Reason(e)}); check the realm the registry names in its WWW-Authenticate header"];
            }

            return [WrongCredentials(credentials.Username, registry, $"GET {url} answered 401 Unauthorized")];
        }
    }

    private static string WrongCredentials(string user, string registry, string what) =>
        $"wrong registry credentials for user {user} at {registry}: {what}; check --registry-username and PIPELINE_REGISTRY_PASSWORD";

    private static async Task<(bool Accepted, string What)?> TokenAcceptedAsync(ImageRegistryTransport transport, AuthenticationHeaderValue challenge, RegistryCredentials credentials, CancellationToken ct)
    {
        var parameters = (challenge.Parameter ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim().Trim('"'), StringComparer.OrdinalIgnoreCase);
        if (!parameters.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUrl))
        {
            return null;
        }

        var url = parameters.TryGetValue("service", out var service)
            ? new Uri($"{realmUrl}{(realmUrl.Query.Length > 0 ? "&" : "?")}service={Uri.EscapeDataString(service)}")
            : realmUrl;
        using var response = await transport.SendToRealmAsync(url, credentials, ct).ConfigureAwait(false);
        return (response.IsSuccessStatusCode, $"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
    }

    private async Task<IReadOnlyList<string>> CheckProxyAsync(IDockerEngine engine, CancellationToken ct)
    {
        var problems = new List<string>();
        try
        {
            using var limit = Limit(ct);
            var ours = await engine.InspectContainerAsync(options.ProxyContainer, limit.Token).ConfigureAwait(false);
            var ourProxyRuns = ours is { IsRunning: true } && ours.Labels.ContainsKey(Labels.Proxy);
            if (!ourProxyRuns && IsLocal(options.ProductionEngine) && PortTaken(options.ProxyAddress, options.ProxyPort) is { } why)
            {
                problems.Add($"{options.ProxyAddress}:{options.ProxyPort} is already in use by another program ({why}); choose --proxy-port (or stop that program)");
            }

            if (!ourProxyRuns && IsLocal(options.ProductionEngine) && options.HttpsPort is { } https && PortTaken(options.ProxyAddress, https) is { } httpsWhy)
            {
                problems.Add($"{options.ProxyAddress}:{https} is already in use by another program ({httpsWhy}); choose --https-port (or stop that program)");
            }

            if (ours is null && !await engine.ImageExistsAsync(options.ProxyImage, limit.Token).ConfigureAwait(false)
                && await ImageInRegistryAsync(options.ProxyImage, limit.Token).ConfigureAwait(false) is { } missing)
            {
                problems.Add($"--proxy-image={options.ProxyImage}: the image is neither on the production engine {options.ProductionEngine} nor in its registry ({missing}); build it with ./build.sh --target=ProvisionLocalServices or set --proxy-image");
            }

            if (!await engine.ImageExistsAsync(options.ProbeImage, limit.Token).ConfigureAwait(false)
                && await ImageInRegistryAsync(options.ProbeImage, limit.Token).ConfigureAwait(false) is { } missingProbe)
            {
                problems.Add($"--probe-image={options.ProbeImage}: the image is neither on the production engine {options.ProductionEngine} nor in its registry ({missingProbe}); push it with ./build.sh --target=ProvisionLocalServices or set --probe-image to a busybox image there");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            problems.Add($"production engine {options.ProductionEngine}: could not check the proxy container and image ({Reason(e)})");
        }

        return problems;
    }

    /// <summary>Null when the image's registry has it; otherwise what the registry answered.</summary>
    private async Task<string?> ImageInRegistryAsync(string reference, CancellationToken ct)
    {
        var image = ImageRef.Parse(reference);
        if (image.Registry is null)
        {
            return "the reference names no registry to pull it from";
        }

        var credentials = image.Registry == options.ImageRegistry && options.RegistryUsername is { } user
            ? new RegistryCredentials(user, options.RegistryPassword ?? "")
            : null;
        var path = $"/v2/{image.Repository}/manifests/{image.Tag}";
        try
        {
            using var transport = new ImageRegistryTransport(image.Registry, options, _timeout, _dockerCertsFolder);
            var (response, url) = await transport.SendAsync(HttpMethod.Head, path, credentials, ManifestTypes, ct).ConfigureAwait(false);
            using (response)
            {
                return response.IsSuccessStatusCode ? null : $"HEAD {url} answered {(int)response.StatusCode}";
            }
        }
        catch (ImageRegistryTransportException e)
        {
            return e.Message;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return $"{image.Registry} does not answer: {Reason(e)}";
        }
    }

    private IReadOnlyList<string> CheckProxyTemplate()
    {
        if (options.ProxyTemplate is null)
        {
            return [];
        }

        try
        {
            ProxyTemplate.For(options.ToProxyOptions()).Render(options.ProxyKind, []);
            return [];
        }
        catch (ProxyTemplateException e)
        {
            return [$"--proxy-template={options.ProxyTemplate}: fix the template, or leave --proxy-template out for the built-in one. {e.Message}"];
        }
    }

    /// <summary>Null when the port can be bound on the address; otherwise why not.</summary>
    private static string? PortTaken(string address, int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Parse(address), port);
            listener.Start();
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return "address already in use";
        }
        catch (SocketException)
        {
            // Not an address of this machine (e.g. the engine publishes on another interface): nothing to say here.
            return null;
        }
    }

    private static bool IsLocal(DockerEndpoint endpoint) =>
        endpoint.Host.Scheme == "unix"
        || (IPAddress.TryParse(endpoint.Host.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip))
        || endpoint.Host.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase);

    private CancellationTokenSource Limit(CancellationToken ct)
    {
        var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(_timeout);
        return limit;
    }

    /// <summary>The innermost useful reason: "connection refused", "no answer within 5 s", the engine's or registry's message.</summary>
    private string Reason(Exception e)
    {
        if (e is OperationCanceledException)
        {
            return $"no answer within {_timeout.TotalSeconds:0.#} s";
        }

        for (var current = e; current is not null; current = current.InnerException)
        {
            if (current is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.HostNotFound => $"host not found: {socket.Message}",
                    _ => socket.Message,
                };
            }

            if (current is OperationCanceledException or TimeoutException)
            {
                return $"no answer within {_timeout.TotalSeconds:0.#} s";
            }
        }

        var innermost = e;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        Debug.Assert(innermost is not null, "an exception chain ends somewhere");
        return innermost.Message.TrimEnd('.');
    }
}

/// <summary>The preflight found problems; nothing was changed. <see cref="Problems"/> names each bad value and its fix.</summary>
public sealed class PreflightFailedException(IReadOnlyList<string> problems)
    : Exception("Preflight failed (nothing was changed):\n" + string.Join('\n', problems.Select(p => "  " + p)))
{
    /// <summary>One line per problem.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;
}
