using Pipeline.Frosting;

namespace Pipeline.Tasks;

/// <summary>
/// After the commit point: the pending contract migrations (<c>migrations/NNN_name.contract.sql</c>) run once no
/// older release is deployed, under the deploy lock, each journaled as a point of no return while it runs. A failure
/// here leaves the new release live (the deploy is committed) and the failed migration rolled back.
/// </summary>
[TaskName("ContractMigrations")]
[TaskDescription("After RetireOldRelease: applies the pending contract migrations (a point of no return).")]
[IsDependentOn(typeof(RetireOldRelease))]
public sealed class ContractMigrations : DeploymentStage
{
    /// <inheritdoc />
    protected override bool TakesTheDeployLockItself => true;

    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct) => MigrationStage.ContractAsync(context, ct);
}

/// <summary>
/// <c>--target=Contract</c>: only the contract phase, for the release that is deployed (<c>--release-version</c>): the
/// pending contract migrations run once every release container of the service runs that version.
/// </summary>
[TaskName("Contract")]
[TaskDescription("Applies the pending contract migrations once only --release-version is deployed (a point of no return).")]
[IsDependentOn(typeof(Preflight))]
public sealed class Contract : DeploymentStage
{
    /// <inheritdoc />
    protected override Task RunStageAsync(DeploymentContext context, CancellationToken ct) => MigrationStage.ContractAsync(context, ct);
}
