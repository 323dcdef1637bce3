namespace Pipeline.Docker;

/// <summary>
/// An image build failed: the Dockerfile had an error, a step's command exited non-zero, or the context was
/// refused. The message names the Dockerfile, the tags, the engine's error and the last lines of the build output.
/// </summary>
public sealed class ImageBuildFailedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="request">The build that failed.</param>
    /// <param name="endpoint">The engine that ran it.</param>
    /// <param name="error">The engine's error message.</param>
    /// <param name="outputTail">The last lines of the build output.</param>
    /// <param name="inner">The engine's refusal, when it refused before building.</param>
    public ImageBuildFailedException(ImageBuildRequest request, DockerEndpoint endpoint, string error, IReadOnlyList<string> outputTail, Exception? inner = null)
        : base(FormatMessage(request, endpoint, error, outputTail), inner)
    {
        Dockerfile = Path.Combine(request.ContextDirectory, request.Dockerfile);
        Tags = request.Tags;
        Error = error;
        OutputTail = outputTail;
    }

    /// <summary>The Dockerfile's full path.</summary>
    public string Dockerfile { get; }

    /// <summary>The tags the image would have had.</summary>
    public IReadOnlyList<ImageRef> Tags { get; }

    /// <summary>The engine's error message (e.g. "The command '/bin/sh -c false' returned a non-zero code: 1").</summary>
    public string Error { get; }

    /// <summary>The last lines of the build output, oldest first.</summary>
    public IReadOnlyList<string> OutputTail { get; }

    private static string FormatMessage(ImageBuildRequest request, DockerEndpoint endpoint, string error, IReadOnlyList<string> tail)
    {
        var tags = request.Tags.Count == 0 ? "untagged" : string.Join(", ", request.Tags);
        var message = $"Building {Path.Combine(request.ContextDirectory, request.Dockerfile)} ({tags}) on {endpoint} failed: {error.TrimEnd()}";
        return tail.Count == 0 ? message : message + "\n" + Indent.Lines(tail);
    }
}
