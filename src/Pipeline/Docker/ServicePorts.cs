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
    /// The TCP ports a running container listens on (from <c>/proc/net/tcp</c> and <c>tcp6</c> inside it), ascending; null
    /// when they cannot be read (the image has no <c>cat</c>, or the container stopped).
    /// </summary>
    public static async Task<IReadOnlyList<int>?> ListeningAsync(IDockerEngine engine, string containerId, CancellationToken ct = default)
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

    /// <summary>The local ports of the sockets in state LISTEN (0A) in <c>/proc/net/tcp</c>-format text, ascending.</summary>
    public static IReadOnlyList<int> ParseListening(string procNetTcp)
    {
        ArgumentNullException.ThrowIfNull(procNetTcp);
        var ports = new SortedSet<int>();
        foreach (var line in procNetTcp.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 3 && fields[3] == "0A" && fields[1].LastIndexOf(':') is var colon and > 0
                && int.TryParse(fields[1][(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port))
            {
                ports.Add(port);
            }
        }

        return [.. ports];
    }
}

/// <summary>The service image exposes several ports and <c>--service-port</c> does not say which one is the service's.</summary>
public sealed class ServicePortAmbiguousException(string message) : Exception(message);
