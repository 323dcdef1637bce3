using Cake.Core.Diagnostics;
using Pipeline.Migrations;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>Runs this run's test image with one TEST_TYPE, following the test-container contract.</summary>
internal static class TestStage
{
    /// <summary>Runs the tests on the CD engine.</summary>
    public static Task RunAsync(DeploymentContext context, TestType type, string? targetUrl, string? network, CancellationToken ct) =>
        new TestContainerRunner(context.CdEngine, context.Time).RunAsync(
            Run(context, type, targetUrl, network),
            line => context.Log.Information(line),
            ct);

    /// <summary>
    /// What a run of this run's test image gets: the contract variables, labels and timeout; integration tests also get
    /// what the release gets (DATABASE_URL, …), while pre-deployment tests run before anything is deployed and bring their
    /// own dependencies.
    /// </summary>
    public static TestRun Run(DeploymentContext context, TestType type, string? targetUrl, string? network)
    {
        var environment = type == TestType.PreDeployment ? new Dictionary<string, string>() : context.Options.ReleaseEnvironment;
        return new TestRun
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
            Environment = environment,
            Secrets = Secrets(environment),
        };
    }

    /// <summary>What a test's output must not show: each release variable's value, and a database URL's password.</summary>
    internal static IReadOnlyList<string> Secrets(IReadOnlyDictionary<string, string> environment)
    {
        var secrets = new List<string>();
        foreach (var value in environment.Values)
        {
            if (value.Length >= 8)
            {
                secrets.Add(value);
            }

            if (value.StartsWith("postgres", StringComparison.Ordinal))
            {
                try
                {
                    if (DatabaseUrl.Parse(value).Password is { Length: >= 4 } password)
                    {
                        secrets.Add(password);
                    }
                }
                catch (FormatException)
                {
                }
            }
        }

        return secrets;
    }
}
