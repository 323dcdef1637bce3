using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Handler.Abstractions;
using Docker.DotNet.NativeHttp;

namespace Pipeline.Docker;

/// <summary>
/// <see cref="IDockerEngine"/> over the Docker Engine API (Docker.DotNet.Enhanced, unversioned paths, so it works
/// with engines from API 1.41 on). Engine errors become <see cref="DockerEngineException"/> with the HTTP status
/// and response body; build errors become <see cref="ImageBuildFailedException"/>.
/// </summary>
/// <remarks>
/// The build context honours <c>.dockerignore</c> in its common form: one pattern per line, <c>#</c> comments,
/// <c>*</c>, <c>?</c> and <c>**</c> wildcards, <c>!</c> exceptions, last match wins; the Dockerfile and the
/// <c>.dockerignore</c> itself are always sent.
/// </remarks>
public sealed partial class DockerEngine : IDockerEngine
{
    private const int TailLines = 20;
    private readonly DockerClient _client;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _networkLock = new(1, 1);
    private readonly DockerTls? _tls;

    /// <summary>Creates a client for the engine at <paramref name="endpoint"/>; nothing is contacted yet.</summary>
    /// <param name="endpoint">Where the engine listens.</param>
    /// <param name="time">The clock (modification times of files put into containers); the system clock when null.</param>
    /// <exception cref="ArgumentException">The endpoint cannot be used (e.g. TLS certificates cannot be loaded).</exception>
    public DockerEngine(DockerEndpoint endpoint, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        Endpoint = endpoint;
        _time = time ?? TimeProvider.System;
        _tls = endpoint.TlsVerify ? DockerTls.Load(endpoint.CertPath ?? DockerEndpoint.DefaultCertPath, endpoint.Host.Host) : null;
        _client = CreateClient(endpoint, _tls);
    }

    /// <inheritdoc />
    public DockerEndpoint Endpoint { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        _client.Dispose();
        _networkLock.Dispose();
    }

    // ------------------------------------------------------------------ engine

    /// <summary>Checks the engine answers; returns its version, e.g. <c>20.10.24 (API 1.41)</c>.</summary>
    public Task<string> PingAsync(CancellationToken ct = default) =>
        CallAsync("checking the engine", async () =>
        {
            var version = await _client.System.GetVersionAsync(ct).ConfigureAwait(false);
            return $"{version.Version} (API {version.APIVersion})";
        });

    // ------------------------------------------------------------------ plumbing

    private async Task<T> CallAsync<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            var status = (int)e.StatusCode;
            throw new DockerEngineException(
                $"{Capitalise(what)} on {Endpoint} failed: the engine answered {status} {e.StatusCode}: {EngineMessage(e.ResponseBody)}",
                status, e.ResponseBody, e);
        }
        catch (Exception e) when (IsUnreachable(e) && _tls?.LastRejection is { } rejection && HasInChain<System.Security.Authentication.AuthenticationException>(e))
        {
            throw new DockerEngineException($"The TLS handshake with the Docker engine at {Endpoint} failed while {what}: {rejection.Reason}. {rejection.Fix}", null, null, e) { TlsRefused = true };
        }
        catch (Exception e) when (IsUnreachable(e) && _tls is not null && IsRefusedClientCertificate(e, _tls))
        {
            throw new DockerEngineException(
                $"The Docker engine at {Endpoint} ended the connection right after the TLS handshake while {what} ({Innermost(e).Message.TrimEnd('.')}): it refuses our client certificate. Check that {Path.Combine(Endpoint.CertPath ?? "DOCKER_CERT_PATH", "cert.pem")} is a client certificate signed by a CA the engine trusts (dockerd --tlscacert).",
                null, null, e) { TlsRefused = true };
        }
        catch (Exception e) when (IsUnreachable(e) && HasInChain<System.Security.Authentication.AuthenticationException>(e))
        {
            throw new DockerEngineException(
                $"The TLS handshake with the Docker engine at {Endpoint} failed while {what}: {Innermost(e).Message} Check that {Endpoint.CertPath ?? "DOCKER_CERT_PATH"} holds the CA that signed the engine's certificate (ca.pem) and a client certificate the engine trusts (cert.pem, key.pem).",
                null, null, e) { TlsRefused = true };
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            throw new DockerEngineException(
                $"Could not reach the Docker engine at {Endpoint} while {what}: {Innermost(e).Message} Start dockerd or set DOCKER_HOST.",
                null, null, e);
        }
    }

    private static bool IsUnreachable(Exception e) => e switch
    {
        OperationCanceledException => false,
        HttpRequestException or SocketException or TimeoutException or IOException or DockerConfigurationException => true,
        _ => e.InnerException is not null && IsUnreachable(e.InnerException),
    };

    /// <summary>
    /// The engine refused our client certificate: a TLS alert about it, or (TLS 1.3, where the server checks the
    /// client certificate after our side finished the handshake) a reset or end of stream once we accepted the engine.
    /// </summary>
    private static bool IsRefusedClientCertificate(Exception e, DockerTls tls)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner.Message.Contains("certificate required", StringComparison.OrdinalIgnoreCase)
                || inner.Message.Contains("bad certificate", StringComparison.OrdinalIgnoreCase)
                || inner.Message.Contains("unknown ca", StringComparison.OrdinalIgnoreCase)
                || (tls.AcceptedAServer && tls.LastRejection is null
                    && (inner is SocketException { SocketErrorCode: SocketError.ConnectionReset }
                        || inner.Message.Contains("unexpected EOF", StringComparison.OrdinalIgnoreCase))))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasInChain<TException>(Exception? e)
        where TException : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is TException)
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    private static string Capitalise(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];

    /// <summary>The engine's error text from a JSON body like <c>{"message":"No such container: x"}</c>.</summary>
    private static string EngineMessage(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return "(no response body)";
        }

        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("message", out var message))
            {
                return message.GetString() ?? body.Trim();
            }
        }
        catch (JsonException)
        {
        }

        return body.Trim();
    }

    private static string TailSuffix(IReadOnlyList<string> tail) => tail.Count == 0 ? "" : "\n" + Indent.Lines(tail);

    private static string DescribeLabels(IReadOnlyDictionary<string, string> labels) =>
        labels.Count == 0 ? "(any)" : string.Join(", ", labels.Select(kv => $"{kv.Key}={kv.Value}"));

    private static Dictionary<string, IDictionary<string, bool>>? LabelFilters(IReadOnlyDictionary<string, string> labels) =>
        labels.Count == 0
            ? null
            : new Dictionary<string, IDictionary<string, bool>> { ["label"] = labels.ToDictionary(kv => $"{kv.Key}={kv.Value}", _ => true) };

    private static IReadOnlyDictionary<string, string> ToReadOnly(IDictionary<string, string>? map) =>
        map is null ? new Dictionary<string, string>() : new Dictionary<string, string>(map);

    private static DockerClient CreateClient(DockerEndpoint endpoint, DockerTls? tls)
    {
        var builder = new DockerClientBuilder().WithEndpoint(endpoint.Host);
        if (tls is null)
        {
            return builder.Build();
        }

        return builder
            .WithAuthProvider(new TlsAuthProvider())
            .WithTransportOptions(new NativeHttpTransportOptions
            {
                ConfigureHandler = handler =>
                {
                    handler.SslOptions.ClientCertificates = new X509CertificateCollection { tls.Client };
                    handler.SslOptions.RemoteCertificateValidationCallback = tls.ValidateServer;
                },
            })
            .Build();
    }

    /// <summary>Tells the transport to speak https; the certificates are set on the handler itself.</summary>
    private sealed class TlsAuthProvider : IAuthProvider
    {
        public bool TlsEnabled => true;

        public HttpMessageHandler ConfigureHandler(HttpMessageHandler handler) => handler;
    }

}
