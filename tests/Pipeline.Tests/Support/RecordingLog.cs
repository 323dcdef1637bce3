using System.Globalization;
using Cake.Core.Diagnostics;

namespace Pipeline.Tests.Support;

/// <summary>A Cake log that keeps every line and the message of the error a run ended with ("Error: …").</summary>
public sealed class RecordingLog : ICakeLog
{
    private readonly List<string> _lines = [];

    /// <inheritdoc />
    public Verbosity Verbosity { get; set; } = Verbosity.Normal;

    /// <summary>The message the run ended with, or null when it succeeded.</summary>
    public string? Error { get; private set; }

    /// <summary>Every line, in order.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    /// <inheritdoc />
    public void Write(Verbosity verbosity, LogLevel level, string format, params object[] args)
    {
        var line = args.Length == 0 ? format : string.Format(CultureInfo.InvariantCulture, format, args);
        lock (_lines)
        {
            _lines.Add(line);
        }

        if (level == LogLevel.Error && line.StartsWith("Error: ", StringComparison.Ordinal))
        {
            Error = line["Error: ".Length..];
        }
    }
}
