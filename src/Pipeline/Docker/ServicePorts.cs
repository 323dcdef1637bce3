using System.Globalization;

namespace Pipeline.Docker;

/// <summary>Which port a release listens on, and which ports a running container really listens on.</summary>
public static class ServicePorts
{
    /// <summary>
    /// The port to give the release: <paramref name="given"/> (<c>--service-port</c>); else the one port the image exposes;
    /// else <paramref name="fallback"/> when it exposes none.
    /// </summary>
    /// <exception cref="ServicePortAmbiguousException">The image exposes several ports and none was given.</exception>
    public static int Resolve(int? given, ImageInfo image, string imageName, int fallback)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (given is { } port)
        {
            return port;
        }

        return image.ExposedPorts.Count switch
        {
            0 => fallback,
            1 => image.ExposedPorts[0],
            _ => throw new ServicePortAmbiguousException(
                $"{imageName} exposes ports {string.Join(", ", image.ExposedPorts)}: say which one the service answers HTTP on with --service-port=PORT (e.g. --service-port={image.ExposedPorts[0]})."),
        };
    }

    /// <summary>
    /// The TCP sockets a running container listens on (from <c>/proc/net/tcp</c> and <c>tcp6</c> inside it), by port; null
    /// when they cannot be read (the image has no <c>cat</c>, or the container stopped).
    /// </summary>
    public static async Task<IReadOnlyList<ListeningPort>?> ListeningAsync(IDockerEngine engine, string containerId, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        try
        {
            var result = await engine.ExecAsync(containerId, ["cat", "/proc/net/tcp", "/proc/net/tcp6"], ct).ConfigureAwait(false);
            return result.ExitCode == 0 || result.Stdout.Length > 0 ? ParseListening(result.Stdout) : null;
        }
        catch (DockerEngineException)
        {
            return null;
        }
    }

    /// <summary>
    /// The sockets in state LISTEN (0A) in <c>/proc/net/tcp</c>-format text, by port (ascending); a port is loopback-only when
    /// every socket on it is bound to 127.0.0.0/8 or ::1 (as Docker's own DNS resolver is, inside the container).
    /// </summary>
    public static IReadOnlyList<ListeningPort> ParseListening(string procNetTcp)
    {
        ArgumentNullException.ThrowIfNull(procNetTcp);
        var ports = new SortedDictionary<int, bool>();
        foreach (var line in procNetTcp.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 3 && fields[3] == "0A" && fields[1].LastIndexOf(':') is var colon and > 0
                && int.TryParse(fields[1][(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port))
            {
                var address = fields[1][..colon];
                var loopback = address.Length == 8 ? address.EndsWith("7F", StringComparison.OrdinalIgnoreCase) : address == "00000000000000000000000001000000";
                ports[port] = ports.TryGetValue(port, out var seen) ? seen && loopback : loopback;
            }
        }

        return ports.Select(p => new ListeningPort(p.Key, p.Value)).ToList();
    }
}

/// <summary>A TCP port a container listens on.</summary>
/// <param name="Port">The port.</param>
/// <param name="LoopbackOnly">True when it listens only on the container's loopback address (unreachable from outside it).</param>
public sealed record ListeningPort(int Port, bool LoopbackOnly);

/// <summary>The service image exposes several ports and <c>--service-port</c> does not say which one is the service's.</summary>
public sealed class ServicePortAmbiguousException(string message) : Exception(message);
