using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Pipeline.Configuration;
using Pipeline.Frosting;

namespace Pipeline.IntegrationTests.BadInput;

/// <summary>What a pipeline run printed (ANSI escapes removed) and returned.</summary>
internal sealed record CapturedRun(int ExitCode, string Out, string Error)
{
    public string All => Out + Error;
}

/// <summary>
/// Runs the real pipeline in-process, like <c>PipelineHarness.Run</c>, with extra command-line options and with
/// Console.Out/Error captured: the Frosting host and Cake's log write there.
/// </summary>
internal static partial class CapturedPipeline
{
    private static readonly Lock Gate = new();

    public static CapturedRun Run(DeploymentOptions options, params string[] arguments) => Run(options, "Deploy", arguments);

    public static CapturedRun Run(DeploymentOptions options, string target, IReadOnlyList<string> arguments)
    {
        lock (Gate)
        {
            var (stdout, stderr, directory) = (Console.Out, Console.Error, Environment.CurrentDirectory);
            using var capturedOut = new StringWriter();
            using var capturedError = new StringWriter();
            Console.SetOut(capturedOut);
            Console.SetError(capturedError);
            int exitCode;
            try
            {
                exitCode = new CakeHost()
                    .UseContext<DeploymentContext>()
                    .AddAssembly(typeof(Tasks.Deploy).Assembly)
                    .ConfigureServices(services => services.AddSingleton(options))
                    .Run([$"--target={target}", .. arguments]);
            }
            finally
            {
                Console.SetOut(stdout);
                Console.SetError(stderr);
                Environment.CurrentDirectory = directory;
            }

            var run = new CapturedRun(exitCode, Clean(capturedOut), Clean(capturedError));
            TestContext.Progress.WriteLine($"--- pipeline exit code {run.ExitCode}; output:\n{run.All}");
            return run;
        }
    }

    private static string Clean(StringWriter writer) => Ansi().Replace(writer.ToString(), string.Empty);

    [GeneratedRegex(@"\x1B\[[0-9;?]*[ -/]*[@-~]")]
    private static partial Regex Ansi();
}
