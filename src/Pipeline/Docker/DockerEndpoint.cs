namespace Pipeline.Docker;

/// <summary>
/// Where a Docker engine listens, DOCKER_HOST-style: <c>unix:///var/run/docker.sock</c> or
/// <c>tcp://host:2376</c>, with TLS when <see cref="TlsVerify"/> (certificates from <see cref="CertPath"/>:
/// ca.pem, cert.pem, key.pem).
/// </summary>
public sealed record DockerEndpoint(Uri Host, bool TlsVerify = false, string? CertPath = null)
{
    /// <summary>The local engine's default socket.</summary>
    public static DockerEndpoint Local { get; } = new(new Uri("unix:///var/run/docker.sock"));

    /// <inheritdoc />
    public override string ToString() => TlsVerify ? $"{Host} (TLS)" : Host.ToString();
}

/// <summary>An Engine API call failed; keeps the HTTP status and the engine's response body.</summary>
public sealed class DockerEngineException(string message, int? statusCode = null, string? responseBody = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The HTTP status the engine answered with, when it answered.</summary>
    public int? StatusCode { get; } = statusCode;

    /// <summary>The engine's response body, when it answered.</summary>
    public string? ResponseBody { get; } = responseBody;
}
