using Cake.Core.Diagnostics;
using Pipeline.Migrations;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>Runs this run's test image with one TEST_TYPE, following the test-container contract.</summary>
internal static class TestStage
{
    /// <summary>Runs the tests on the CD engine; a container whose tests passed is removed beside the stages that follow.</summary>
    public static Task RunAsync(
        DeploymentContext context,
        TestType type,
        string? targetUrl,
        string? network,
        CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null,
        IReadOnlyDictionary<string, string>? extraHosts = null) =>
        new TestContainerRunner(context.CdEngine, context.Time, context.CleanUpBeside).RunAsync(
            Run(context, type, targetUrl, network, environment, extraHosts),
            line => context.Log.Information(line),
            ct);

    /// <summary>
    /// What a run of this run's test image gets: the contract variables, labels and timeout; integration tests also get
    /// what the release gets (DATABASE_URL, …), while pre-deployment tests run before anything is deployed and bring their
    /// own dependencies. A stage may add its own variables (TARGET_HOST, …) and host names.
    /// </summary>
    public static TestRun Run(
        DeploymentContext context,
        TestType type,
        string? targetUrl,
        string? network,
        IReadOnlyDictionary<string, string>? environment = null,
        IReadOnlyDictionary<string, string>? extraHosts = null)
    {
        var released = type == TestType.PreDeployment ? new Dictionary<string, string>() : context.Options.ReleaseEnvironment;
        var variables = new Dictionary<string, string>(released);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            variables[name] = value;
        }

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
            Environment = variables,
            Secrets = Secrets(released),
            ExtraHosts = extraHosts ?? new Dictionary<string, string>(),
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
