using Pipeline.Frosting;
using Pipeline.Journal;
using Pipeline.Registry;

namespace Pipeline.Tasks;

/// <summary>Registers the new release (every replica's address and port, colour, version, image digest) in the service registry.</summary>
[TaskName("RegisterRelease")]
[TaskDescription("Registers the new release's endpoints (one per replica), colour, version and image digest in the service registry.")]
[IsDependentOn(typeof(DeployRelease))]
public sealed class RegisterRelease : DeploymentStage
{
    /// <inheritdoc />
    protected override async Task RunStageAsync(DeploymentContext context, CancellationToken ct)
    {
        var state = context.State;
        var release = ReleaseRecord.For(
            context.Service,
            state.NewColor!,
            context.Version,
            state.Image!.ToString(),
            state.ImageDigest,
            state.NewAddresses!.Endpoints,
            context.Options.Route,
            context.Options.HostName,
            context.DeployId,
            context.Time.GetUtcNow(),
            context.Replicas);
        var key = context.Catalog.ReleaseKey(release.Service, release.Color);
        await context.Journal.RecordAsync(UndoStep.RestoreKey(key, await context.ServiceRegistry.GetAsync(key, ct)), ct);
        await context.Catalog.PutReleaseAsync(release, ct);
        state.NewRelease = release;
    }
}
