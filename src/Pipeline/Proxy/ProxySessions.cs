using System.Globalization;
using System.Text;
using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>The proxy's control session ended (the proxy reloaded or restarted, or socat exited); open a new one.</summary>
internal sealed class ProxySessionClosedException(string message) : IOException(message);

/// <summary>Bytes from an exec session, read up to a delimiter or a length.</summary>
internal sealed class SessionBuffer(IExecSession session)
{
    private readonly byte[] _chunk = new byte[64 * 1024];
    private byte[] _data = new byte[64 * 1024];
    private int _length;

    public IExecSession Session { get; } = session;

    /// <summary>Reads until <paramref name="delimiter"/> and returns what came before it (the delimiter is consumed).</summary>
    public async Task<byte[]> ReadUntilAsync(ReadOnlyMemory<byte> delimiter, CancellationToken ct)
    {
        var searchFrom = 0;
        while (true)
        {
            var at = _data.AsSpan(searchFrom, _length - searchFrom).IndexOf(delimiter.Span);
            if (at >= 0)
            {
                return Take(searchFrom + at, delimiter.Length);
            }

            searchFrom = Math.Max(0, _length - delimiter.Length + 1);
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken ct)
    {
        while (_length < count)
        {
            await FillAsync(ct).ConfigureAwait(false);
        }

        return Take(count, 0);
    }

    private byte[] Take(int count, int skip)
    {
        var taken = _data.AsSpan(0, count).ToArray();
        var consumed = count + skip;
        _data.AsSpan(consumed, _length - consumed).CopyTo(_data);
        _length -= consumed;
        return taken;
    }

    private async Task FillAsync(CancellationToken ct)
    {
        // The exec stream's read may not heed the token: stop waiting on it anyway (the caller then closes the session).
        var read = await Session.ReadAsync(_chunk, ct).WaitAsync(ct).ConfigureAwait(false);
        if (read == 0)
        {
            var stderr = Session.Stderr.Trim();
            throw new ProxySessionClosedException($"{Session.Description} ended{(stderr.Length > 0 ? $": {stderr}" : "")}.");
        }

        if (_length + read > _data.Length)
        {
            Array.Resize(ref _data, Math.Max(_data.Length * 2, _length + read));
        }

        _chunk.AsSpan(0, read).CopyTo(_data.AsSpan(_length));
        _length += read;
    }
}

/// <summary>
/// HAProxy's master CLI in prompt mode over one exec of <c>socat</c>: commands go in one per line (pipelined), each
/// answer ends at the next prompt. <c>@1 …</c> reaches the current worker, <c>@!PID …</c> any worker, plain commands the master.
/// </summary>
internal sealed class HaproxyCliSession : IAsyncDisposable, IDisposable
{
    private readonly SessionBuffer _buffer;
    private readonly byte[] _prompt;

    private HaproxyCliSession(SessionBuffer buffer, byte[] prompt)
    {
        _buffer = buffer;
        _prompt = prompt;
    }

    public static async Task<HaproxyCliSession> OpenAsync(IDockerEngine engine, string containerId, string socket, CancellationToken ct)
    {
        var exec = await engine.StartSessionAsync(containerId, ["/usr/bin/socat", "-t", "30", "-", $"unix-connect:{socket}"], ct).ConfigureAwait(false);
        try
        {
            var buffer = new SessionBuffer(exec);
            await exec.WriteAsync("prompt\n"u8.ToArray(), ct).ConfigureAwait(false);

            // The first thing the master says in prompt mode is its prompt, e.g. "master> ".
            var prompt = await buffer.ReadUntilAsync("> "u8.ToArray(), ct).ConfigureAwait(false);
            return new HaproxyCliSession(buffer, [.. prompt, .. "> "u8]);
        }
        catch
        {
            await exec.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends the commands at once and returns their answers in order (without the prompt and trailing newlines).</summary>
    public async Task<IReadOnlyList<string>> SendAsync(IReadOnlyList<string> commands, CancellationToken ct)
    {
        if (commands.Count == 0)
        {
            return [];
        }

        foreach (var command in commands)
        {
            if (command.Contains('\n') || command.Contains(';'))
            {
                throw new ArgumentException($"HAProxy CLI command '{command}' must be one command on one line.", nameof(commands));
            }
        }

        await _buffer.Session.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(commands.Select(c => c + "\n"))), ct).ConfigureAwait(false);
        var answers = new List<string>(commands.Count);
        var delimiter = (byte[])[(byte)'\n', .. _prompt];
        foreach (var _ in commands)
        {
            var answer = await _buffer.ReadUntilAsync(delimiter, ct).ConfigureAwait(false);
            answers.Add(Encoding.UTF8.GetString(answer).TrimEnd('\n'));
        }

        return answers;
    }

    /// <summary>Sends one command with a multi-line payload (<c>command &lt;&lt;</c>, the lines, an empty line) and returns its answer.</summary>
    public async Task<string> SendWithPayloadAsync(string command, string payload, CancellationToken ct)
    {
        var lines = payload.ReplaceLineEndings("\n").Trim('\n');
        if (command.Contains('\n') || lines.Contains("\n\n", StringComparison.Ordinal))
        {
            throw new ArgumentException($"HAProxy CLI payload for '{command}' must be one command and a payload without empty lines.", nameof(payload));
        }

        await _buffer.Session.WriteAsync(Encoding.ASCII.GetBytes($"{command} <<\n{lines}\n\n"), ct).ConfigureAwait(false);
        var answer = await _buffer.ReadUntilAsync((byte[])[(byte)'\n', .. _prompt], ct).ConfigureAwait(false);

        // In prompt mode every payload line is acknowledged with "+ ".
        return Encoding.UTF8.GetString(answer).Replace("+ ", "", StringComparison.Ordinal).Trim();
    }

    /// <summary>Sends one command without waiting for an answer (the master's <c>reload</c> closes the session).</summary>
    public Task SendWithoutAnswerAsync(string command, CancellationToken ct) =>
        _buffer.Session.WriteAsync(Encoding.ASCII.GetBytes(command + "\n"), ct);

    public ValueTask DisposeAsync() => _buffer.Session.DisposeAsync();

    public void Dispose() => _buffer.Session.Dispose();
}

/// <summary>HTTP/1.1 requests over one kept-alive connection to nginx's admin socket, through one exec of <c>socat</c>.</summary>
internal sealed class NginxAdminSession : IAsyncDisposable, IDisposable
{
    private readonly SessionBuffer _buffer;
    private bool _closed;

    private NginxAdminSession(SessionBuffer buffer) => _buffer = buffer;

    public static async Task<NginxAdminSession> OpenAsync(IDockerEngine engine, string containerId, string socket, CancellationToken ct)
    {
        var exec = await engine.StartSessionAsync(containerId, ["/usr/bin/socat", "-t", "30", "-", $"unix-connect:{socket}"], ct).ConfigureAwait(false);
        return new NginxAdminSession(new SessionBuffer(exec));
    }

    /// <summary>Sends one request and reads its answer.</summary>
    public async Task<(int Status, string Body)> SendAsync(string method, string path, string? body, CancellationToken ct)
    {
        if (_closed)
        {
            throw new ProxySessionClosedException("nginx closed the admin connection.");
        }

        var content = Encoding.UTF8.GetBytes(body ?? "");
        var head = $"{method} {path} HTTP/1.1\r\nHost: pipeline\r\nContent-Length: {content.Length}\r\n\r\n";
        byte[] request = [.. Encoding.ASCII.GetBytes(head), .. content];
        await _buffer.Session.WriteAsync(request, ct).ConfigureAwait(false);

        var headers = Encoding.ASCII.GetString(await _buffer.ReadUntilAsync("\r\n\r\n"u8.ToArray(), ct).ConfigureAwait(false)).Split("\r\n");
        var status = int.Parse(headers[0].Split(' ')[1], CultureInfo.InvariantCulture);
        var length = 0;
        foreach (var header in headers.Skip(1))
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? header : header[..colon].Trim();
            var value = colon < 0 ? "" : header[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(value, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) && value.Equals("close", StringComparison.OrdinalIgnoreCase))
            {
                _closed = true;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDataException($"nginx's admin socket answered {method} {path} with Transfer-Encoding {value}; the admin endpoint always sends Content-Length.");
            }
        }

        var answer = await _buffer.ReadExactlyAsync(length, ct).ConfigureAwait(false);
        return (status, Encoding.UTF8.GetString(answer));
    }

    public ValueTask DisposeAsync() => _buffer.Session.DisposeAsync();

    public void Dispose() => _buffer.Session.Dispose();
}
