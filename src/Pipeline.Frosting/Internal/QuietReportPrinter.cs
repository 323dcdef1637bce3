using Cake.Cli;
using Cake.Core;
using Cake.Core.Diagnostics;

namespace Pipeline.Frosting.Internal;

/// <summary>
/// Cake's report printer, silent at <c>--verbosity=quiet</c> (no step headers, no task table), so a task's
/// machine-readable output (e.g. <c>--format=json</c>) is all that reaches standard output.
/// </summary>
internal sealed class QuietReportPrinter(CakeSpectreReportPrinter inner, ICakeLog log) : ICakeReportPrinter
{
    private bool Quiet => log.Verbosity == Verbosity.Quiet;

    public void Write(CakeReport report)
    {
        if (!Quiet)
        {
            inner.Write(report);
        }
    }

    public void WriteLifeCycleStep(string name, Verbosity verbosity)
    {
        if (!Quiet)
        {
            inner.WriteLifeCycleStep(name, verbosity);
        }
    }

    public void WriteStep(string name, Verbosity verbosity)
    {
        if (!Quiet)
        {
            inner.WriteStep(name, verbosity);
        }
    }

    public void WriteSkippedStep(string name, Verbosity verbosity)
    {
        if (!Quiet)
        {
            inner.WriteSkippedStep(name, verbosity);
        }
    }
}
