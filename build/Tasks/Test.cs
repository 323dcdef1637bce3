using System.Xml.Linq;
using Cake.Core;
using Cake.Core.Diagnostics;
using Pipeline;
using Pipeline.Frosting;

namespace Build.Tasks;

/// <summary>Runs every test (fast and integration) and ends with the line "N passed, N failed, N skipped".</summary>
[TaskName("Test")]
[TaskDescription("Runs every test against the local engines and prints 'N passed, N failed, N skipped'.")]
[IsDependentOn(typeof(ProvisionLocalServices))]
public sealed class Test : FrostingTask<DeploymentContext>
{
    /// <inheritdoc />
    public override void Run(DeploymentContext context)
    {
        var results = Path.Combine(context.Environment.WorkingDirectory.FullPath, "artifacts", "test-results");
        if (Directory.Exists(results))
        {
            Directory.Delete(results, recursive: true);
        }

        var filter = context.Arguments.HasArgument("filter") ? context.Arguments.GetArgument("filter") : null;
        var failure = default(CakeException);
        try
        {
            Shell.Run(context, "dotnet",
            [
                "test", "Pipeline.Tests.slnf", "--logger", "trx", "--logger", "console;verbosity=normal", "--results-directory", results,
                .. filter is null ? Array.Empty<string>() : ["--filter", filter],
            ], EtcdUserForTests(context.Options));
        }
        catch (CakeException e)
        {
            failure = e;
        }

        var (passed, failed, skipped) = Count(results);
        foreach (var line in FailedTests(results))
        {
            context.Log.Information(line);
        }

        context.Log.Information($"{passed} passed, {failed} failed, {skipped} skipped");
        if (failure is not null || failed > 0 || passed == 0)
        {
            throw new CakeException(1, failure?.Message ?? $"{failed} tests failed.");
        }
    }

    /// <summary>
    /// The build's etcd user for the tests, when its password is in a file that exists, under PIPELINE_TEST_ names: the
    /// tests run the pipeline in-process, where PIPELINE_ETCD_* would override the options a test gives it.
    /// </summary>
    private static Dictionary<string, string> EtcdUserForTests(Pipeline.Configuration.DeploymentOptions options) =>
        options is { EtcdUsername: { } user, EtcdPassword: null, EtcdPasswordFile: { } file } && File.Exists(file)
            ? new Dictionary<string, string> { ["PIPELINE_TEST_ETCD_USERNAME"] = user, ["PIPELINE_TEST_ETCD_PASSWORD_FILE"] = file }
            : [];

    /// <summary>
    /// Each failed test's name and the first lines of its message, so the end of the log (all a CI summary may keep)
    /// says which tests failed and why.
    /// </summary>
    private static IEnumerable<string> FailedTests(string results)
    {
        XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
        var files = Directory.Exists(results) ? Directory.GetFiles(results, "*.trx") : [];
        foreach (var result in files.Select(XDocument.Load).SelectMany(f => f.Descendants(ns + "UnitTestResult"))
                     .Where(r => (string?)r.Attribute("outcome") is "Failed" or "Error" or "Timeout" or "Aborted"))
        {
            yield return $"FAILED {(string?)result.Attribute("testName")} ({(string?)result.Attribute("duration")})";
            var message = result.Descendants(ns + "Message").FirstOrDefault()?.Value ?? "";
            foreach (var line in message.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(6))
            {
                yield return "    " + (line.Length > 300 ? line[..300] + " …" : line.TrimEnd());
            }
        }
    }

    /// <summary>
    /// Passed and failed from each TRX file's counters; skipped (ignored, explicit, inconclusive) from the results whose
    /// outcome is NotExecuted or Inconclusive, since the adapter leaves the notExecuted counter at 0.
    /// </summary>
    private static (int Passed, int Failed, int Skipped) Count(string results)
    {
        XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
        var files = Directory.Exists(results) ? Directory.GetFiles(results, "*.trx").Select(XDocument.Load).ToList() : [];
        var counters = files.Select(f => f.Descendants(ns + "Counters").Single()).ToList();
        int Sum(string name) => counters.Sum(c => (int?)c.Attribute(name) ?? 0);
        var skipped = files.SelectMany(f => f.Descendants(ns + "UnitTestResult"))
            .Count(r => (string?)r.Attribute("outcome") is "NotExecuted" or "Inconclusive");
        return (Sum("passed"), Sum("failed") + Sum("error") + Sum("timeout") + Sum("aborted"), skipped);
    }
}
