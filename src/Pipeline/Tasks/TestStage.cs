using Cake.Core.Diagnostics;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>Runs this run's test image with one TEST_TYPE, following the test-container contract.</summary>
internal static class TestStage
{
    public static Task RunAsync(DeploymentContext context, TestType type, string? targetUrl, string? network, CancellationToken ct, IReadOnlyDictionary<string, string>? environment = null) =>
        new TestContainerRunner(context.CdEngine, context.Time).RunAsync(
            new TestRun
            {
                Type = type,
                Image = context.State.TestImage!.ToString(),
                TargetUrl = targetUrl is null ? null : new Uri(targetUrl),
                ServiceName = context.Service,
                ServiceVersion = context.Version,
                ServiceColor = context.State.NewColor,
                Network = network,
                Timeout = context.Options.TestTimeout,
                Labels = context.LabelsFor(Roles.Test, context.State.NewColor),
                Environment = environment ?? new Dictionary<string, string>(),
            },
            line => context.Log.Information(line),
            ct);
}
