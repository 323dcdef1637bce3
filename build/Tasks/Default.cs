using Pipeline;
using Pipeline.Frosting;
using Pipeline.Tasks;

namespace Build.Tasks;

/// <summary>`./build.sh` with no target: deploy the example service.</summary>
[TaskName("Default")]
[TaskDescription("Deploys examples/hello (or --service-dir) through the pipeline on the local engine.")]
[IsDependentOn(typeof(ProvisionLocalServices))]
[IsDependentOn(typeof(Deploy))]
public sealed class Default : FrostingTask<DeploymentContext>;
