using Cake.Core.Diagnostics;
using Pipeline.Docker;
using Pipeline.Frosting;
using Pipeline.Testing;

namespace Pipeline.Tasks;

/// <summary>
/// The dynamic gate: when this run applied expand migrations and a release is live, that release's own
/// post-integration tests (its test image, its version and colour) run again through the proxy against the migrated
/// schema. If the live release no longer passes, the deploy fails and rolls back (down scripts revert what they can).
/// </summary>
[TaskName("LiveReleaseTests")]
[TaskDescription("After expand migrations: the live colour's own post-integration tests again, through the proxy, against the migrated schema.")]
[IsDependentOn(typeof(Migrate))]
public sealed class LiveReleaseTests : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var applied = context.State.AppliedMigrations;
        if (applied.Count == 0)
        {
            context.Log.Information("No migration applied by this run: the live release's schema is unchanged.");
            return;
        }

        var liveColor = await context.Catalog.GetLiveColorAsync(context.Service, ct);
        var live = liveColor is null ? null : await context.Catalog.GetReleaseAsync(context.Service, liveColor, ct);
        if (live is null)
        {
            context.Log.Information($"No release of {context.Service} is live: no old release to prove the migrated schema against.");
            return;
        }

        var testImage = PreDeploymentTests.TestImage(context.Options.ImageRegistry, context.Service, live.Version);
        if (!await context.CdEngine.ImageExistsAsync(testImage.ToString(), ct))
        {
            await context.CdEngine.PullImageAsync(testImage, context.RegistryCredentials, new LogProgress(context.Log, "  [pull] "), ct);
        }

        var ids = string.Join(", ", applied.Select(m => m.Id));
        context.Log.Information($"The live release {context.Service} {live.Version} ({live.Color}) runs its own post-integration tests against the schema after {ids}.");
        var environment = context.Options.ReleaseEnvironment;
        try
        {
            await new TestContainerRunner(context.CdEngine, context.Time).RunAsync(
                new TestRun
                {
                    Type = TestType.PostIntegration,
                    Image = testImage.ToString(),
                    TargetUrl = new Uri(context.Proxy.PublicUrl, context.Options.Route),
                    ServiceName = context.Service,
                    ServiceVersion = live.Version,
                    ServiceColor = live.Color,
                    Network = TestRun.HostNetwork,
                    Timeout = context.Options.TestTimeout,
                    Labels = context.LabelsFor(Roles.Test, live.Color),
                    Environment = environment,
                    Secrets = TestStage.Secrets(environment),
                },
                line => context.Log.Information("[live] " + line),
                ct);
        }
        catch (TestsFailedException e)
        {
            var kept = applied.Where(m => m.Down is null).Select(m => m.Id).ToList();
            throw new LiveReleaseBrokenException(
                $"the live release {context.Service} {live.Version} ({live.Color}) fails its own post-integration tests against the schema after {ids}, so the old release could not survive this deploy or its rollback"
                + (kept.Count > 0 ? $" ({string.Join(", ", kept)} ha{(kept.Count == 1 ? "s" : "ve")} no down script and stay{(kept.Count == 1 ? "s" : "")} applied: revert by hand or add a down script)" : "")
                + $". {e.Message}",
                e);
        }
    }
}
