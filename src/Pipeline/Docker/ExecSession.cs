using Docker.DotNet;

namespace Pipeline.Docker;

/// <summary>
/// A process in a container whose stdin and stdout stay attached: write commands, read answers, for as long as
/// it runs. One reader and one writer at a time. Disposing closes its stdin (the process sees end of input).
/// </summary>
public interface IExecSession : IAsyncDisposable, IDisposable
{
    /// <summary>What runs where, for messages.</summary>
    string Description { get; }

    /// <summary>What the process wrote to stderr so far.</summary>
    string Stderr { get; }

    /// <summary>Sends bytes to the process's stdin.</summary>
    Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default);

    /// <summary>Reads the next bytes the process wrote to stdout; 0 when it ended.</summary>
    Task<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default);
}

/// <summary>An exec with attached stdin/stdout over the engine's hijacked connection.</summary>
internal sealed class DockerExecSession(MultiplexedStream stream, string description) : IExecSession
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly System.Text.StringBuilder _stderr = new();
    private int _disposed;

    public string Description { get; } = description;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        var bytes = data.ToArray();
        await stream.WriteAsync(bytes, 0, bytes.Length, ct).ConfigureAwait(false);
    }

    public async Task<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        while (true)
        {
            var read = await stream.ReadOutputAsync(_buffer, 0, Math.Min(_buffer.Length, buffer.Length), ct).ConfigureAwait(false);
            if (read.EOF || read.Count == 0)
            {
                return 0;
            }

            if (read.Target == MultiplexedStream.TargetStream.StandardError)
            {
                lock (_stderr)
                {
                    _stderr.Append(System.Text.Encoding.UTF8.GetString(_buffer, 0, read.Count));
                }

                continue;
            }

            _buffer.AsSpan(0, read.Count).CopyTo(buffer.Span);
            return read.Count;
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            try
            {
                stream.CloseWrite();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                // The process or the connection is gone already.
            }

            stream.Dispose();
        }
    }
}
