using Cake.Core.Diagnostics;
using Pipeline.Frosting;
using Pipeline.Docker;
using Pipeline.Planning;
using Pipeline.Preflight;
using Pipeline.Runtime;

namespace Pipeline.Tasks;

/// <summary>
/// The first stage. Changes nothing anywhere: validates the options, then checks with short timeouts that the
/// engines, the service registry, the image registry (and its credentials), the proxy port, the proxy image and
/// the proxy template are usable, chooses the release runtime (containers, or a swarm when the production engine is a
/// manager) and asks it whether the release can run there, and fails with one message that lists every problem with its
/// fix. It also reads the service's migrations: misnamed files, scripts that do not parse and expand migrations the
/// static gate refuses fail the run here, before anything changed. A redeploy (<c>--from-registry</c>) also needs the
/// version's images in the image registry.
/// </summary>
[TaskName("Preflight")]
[TaskDescription("Checks options, engines, registries, the proxy port, image and template, without changing anything.")]
public sealed class Preflight : AsyncFrostingTask<DeploymentContext>
{
    /// <summary>How long choosing and checking the release runtime may take.</summary>
    private static readonly TimeSpan RuntimeCheckTimeout = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    public override async Task RunAsync(DeploymentContext context)
    {
        var started = context.Time.GetTimestamp();
        var credentials = context.RegistryCredentials;
        var options = context.Options with { RegistryUsername = credentials?.Username, RegistryPassword = credentials?.Password };
        var ct = context.CancellationToken;
        var problems = new List<string>(await new PreflightChecks(options, () => context.CdEngine, () => context.ProductionEngine, () => context.ServiceRegistry)
            .RunAsync(ct));
        problems.AddRange(await CheckRuntimeAsync(context, ct));
        if (problems.Count > 0)
        {
            throw new PreflightFailedException(problems);
        }

        if (options.FromRegistry)
        {
            await RegistryVersions.EnsureHeldAsync(context, ct);
        }

        var migrations = MigrationStage.Load(context);
        context.Log.Information($"Preflight: engines, registries, proxy port, image and template are ready; releases run as {context.Runtime.Kind} on {options.ProductionEngine}"
            + (migrations.Migrations.Count > 0 ? $"; {migrations.Migrations.Count} migration(s) checked, the expand ones pass the static gate" : "")
            + $" ({context.Time.GetElapsedTime(started).TotalMilliseconds:0} ms).");
    }

    /// <summary>Chooses the release runtime and asks it whether this release can run there (a swarm: manager, nodes, constraints, network).</summary>
    private static async Task<IReadOnlyList<string>> CheckRuntimeAsync(DeploymentContext context, CancellationToken ct)
    {
        var options = context.Options;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(RuntimeCheckTimeout);
        try
        {
            var runtime = await context.ResolveRuntimeAsync(limit.Token);
            return await runtime.CheckAsync(new RuntimeRequirements(context.Replicas, options.PlacementConstraints, options.Volumes), limit.Token);
        }
        catch (ReleaseRuntimeException e)
        {
            return [e.Message];
        }
        catch (DockerEngineException)
        {
            // The engine checks above already say the production engine does not answer.
            return [];
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return [$"production engine {options.ProductionEngine}: did not say within {RuntimeCheckTimeout.TotalSeconds:0} s how it runs releases (its /info, swarm nodes and networks); check that it answers"];
        }
    }
}
