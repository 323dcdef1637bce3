namespace Pipeline.Docker;

/// <summary>An Engine API call failed; keeps the HTTP status and the engine's response body.</summary>
public sealed class DockerEngineException(string message, int? statusCode = null, string? responseBody = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The HTTP status the engine answered with, when it answered.</summary>
    public int? StatusCode { get; } = statusCode;

    /// <summary>The engine's response body, when it answered.</summary>
    public string? ResponseBody { get; } = responseBody;

    /// <summary>The engine was reached but the TLS handshake failed (its certificate not trusted or not for this host, or ours refused); the message names the certificate files to fix.</summary>
    public bool TlsRefused { get; init; }
}
