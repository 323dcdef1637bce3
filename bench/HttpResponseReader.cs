using System.Globalization;
using System.Text;

namespace Pipeline.Bench;

/// <summary>What the load generator needs from one HTTP/1.1 response.</summary>
/// <param name="Status">The status code.</param>
/// <param name="ConnectionClose">True when the server will close the connection after this response.</param>
/// <param name="Color">The <c>X-Pipeline-Color</c> header, if any.</param>
/// <param name="BodyLength">How many body bytes were read.</param>
internal sealed record HttpResponseHead(int Status, bool ConnectionClose, string? Color, long BodyLength);

/// <summary>The connection ended in the middle of a response (or before a response to a sent request).</summary>
internal sealed class TruncatedResponseException(string message) : IOException(message);

/// <summary>
/// Reads HTTP/1.1 responses, one after the other, from a stream (a keep-alive connection): status line, headers,
/// then a body framed by Content-Length, chunked encoding, or the end of the connection. Nothing is retried:
/// a connection that ends before a whole response is an error the caller counts.
/// </summary>
internal sealed class HttpResponseReader(Stream stream)
{
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    /// <summary>Reads the next whole response; throws <see cref="TruncatedResponseException"/> when the connection ends first.</summary>
    public async Task<HttpResponseHead> ReadAsync(CancellationToken ct = default)
    {
        var statusLine = await ReadLineAsync(ct) ?? throw new TruncatedResponseException("connection closed before any byte of the response");
        var parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            throw new InvalidDataException($"not an HTTP/1.x status line: '{statusLine}'");
        }

        var http10 = parts[0] == "HTTP/1.0";
        long? contentLength = null;
        var chunked = false;
        string? connection = null;
        string? color = null;
        while (true)
        {
            var line = await ReadLineAsync(ct) ?? throw new TruncatedResponseException($"connection closed inside the headers of a {status} response");
            if (line.Length == 0)
            {
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connection = value;
            }
            else if (name.Equals("X-Pipeline-Color", StringComparison.OrdinalIgnoreCase))
            {
                color = value;
            }
        }

        var close = connection is not null
            ? connection.Contains("close", StringComparison.OrdinalIgnoreCase)
            : http10;
        long body;
        if (status is (>= 100 and < 200) or 204 or 304)
        {
            body = 0;
        }
        else if (chunked)
        {
            body = await ReadChunkedAsync(ct);
        }
        else if (contentLength is { } length)
        {
            await SkipAsync(length, ct);
            body = length;
        }
        else
        {
            body = await SkipToEndAsync(ct);
            close = true;
        }

        return new HttpResponseHead(status, close, color, body);
    }

    private async Task<long> ReadChunkedAsync(CancellationToken ct)
    {
        long total = 0;
        while (true)
        {
            var sizeLine = await ReadLineAsync(ct) ?? throw new TruncatedResponseException("connection closed inside a chunked body");
            var size = long.Parse(sizeLine.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                // Trailers, up to the empty line.
                while ((await ReadLineAsync(ct) ?? throw new TruncatedResponseException("connection closed inside the trailers")).Length > 0)
                {
                }

                return total;
            }

            await SkipAsync(size, ct);
            total += size;
            if (await ReadLineAsync(ct) is not "")
            {
                throw new InvalidDataException("a chunk is not followed by CRLF");
            }
        }
    }

    private async Task SkipAsync(long count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (_start == _end && !await FillAsync(ct))
            {
                throw new TruncatedResponseException($"connection closed with {count} body bytes missing");
            }

            var take = (int)Math.Min(count, _end - _start);
            _start += take;
            count -= take;
        }
    }

    private async Task<long> SkipToEndAsync(CancellationToken ct)
    {
        long total = _end - _start;
        _start = _end;
        while (await FillAsync(ct))
        {
            total += _end - _start;
            _start = _end;
        }

        return total;
    }

    private async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(ct))
            {
                return line.Length == 0 ? null : throw new TruncatedResponseException("connection closed in the middle of a line");
            }

            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            var stop = newline < 0 ? _end : newline;
            line.Append(Encoding.ASCII.GetString(_buffer, _start, stop - _start));
            _start = newline < 0 ? _end : newline + 1;
            if (newline >= 0)
            {
                return line.ToString().TrimEnd('\r');
            }
        }
    }

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        _start = 0;
        _end = await stream.ReadAsync(_buffer, ct);
        return _end > 0;
    }
}
