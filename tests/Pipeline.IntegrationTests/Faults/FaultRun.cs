using System.Globalization;
using Cake.Core.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Configuration;
using Pipeline.Frosting;

namespace Pipeline.IntegrationTests.Faults;

/// <summary>One in-process run of the pipeline: its exit code, the error it ended with and every log line.</summary>
internal sealed record FaultRun(int ExitCode, string? Error, IReadOnlyList<string> Log)
{
    /// <summary>
    /// Runs <paramref name="target"/> in-process with a log that records every line; <paramref name="onLine"/> sees
    /// each line as it is written, on the pipeline's own thread, so a fault injected there happens before the
    /// pipeline's next step.
    /// </summary>
    public static FaultRun Execute(DeploymentOptions options, string target = "Deploy", Action<string>? onLine = null)
    {
        var log = new RecordingLog(onLine);
        var exitCode = new CakeHost()
            .UseContext<DeploymentContext>()
            .AddAssembly(typeof(Tasks.Deploy).Assembly)
            .ConfigureServices(services =>
            {
                services.AddSingleton(options);
                services.AddSingleton<ICakeLog>(log);
            })
            .Run([$"--target={target}"]);
        return new FaultRun(exitCode, log.Error, log.Lines);
    }

    /// <summary>Keeps every line (and the run's final "Error: …" message) and echoes it to the test's output.</summary>
    private sealed class RecordingLog(Action<string>? onLine) : ICakeLog
    {
        private readonly List<string> _lines = [];

        public Verbosity Verbosity { get; set; } = Verbosity.Normal;

        public string? Error { get; private set; }

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

            TestContext.Out.WriteLine(line);
            onLine?.Invoke(line);
        }
    }
}
