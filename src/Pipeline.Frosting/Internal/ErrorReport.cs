using Cake.Core;
using Cake.Core.Diagnostics;

namespace Pipeline.Frosting.Internal;

/// <summary>Writes the error that ended a run and picks the process exit code.</summary>
internal static class ErrorReport
{
    /// <summary>Logs <paramref name="exception"/> ("Error: message", the full exception at diagnostic verbosity) and returns the exit code.</summary>
    public static int Write(ICakeLog? log, Exception exception)
    {
        var shown = Unwrap(exception);
        if (log is not null)
        {
            if (log.Verbosity == Verbosity.Diagnostic)
            {
                log.Error("Error: {0}", shown);
            }
            else
            {
                log.Error("Error: {0}", shown.Message);
                if (shown is AggregateException aggregate)
                {
                    foreach (var inner in aggregate.Flatten().InnerExceptions)
                    {
                        log.Error("\t{0}", inner.Message);
                    }
                }
            }
        }
        else
        {
            Console.Error.WriteLine($"Error: {shown.Message}");
        }

        return ExitCode(exception);
    }

    /// <summary>
    /// <see cref="CakeException.ExitCode"/> of the first <see cref="CakeException"/> found in the exception, its inner
    /// exceptions (CakeReportException wraps a task's exception) and aggregates; otherwise 1. Never 0.
    /// </summary>
    public static int ExitCode(Exception exception)
    {
        var cake = Flatten(exception).OfType<CakeException>().FirstOrDefault();
        return cake is { ExitCode: not 0 } ? cake.ExitCode : 1;
    }

    private static Exception Unwrap(Exception exception)
    {
        var current = exception;
        while (current is CakeReportException or System.Reflection.TargetInvocationException && current.InnerException is not null)
        {
            current = current.InnerException;
        }

        return current;
    }

    private static IEnumerable<Exception> Flatten(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            yield return current;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Flatten))
                {
                    yield return inner;
                }

                yield break;
            }
        }
    }
}
