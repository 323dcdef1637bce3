using Pipeline.Docker;
using Pipeline.Migrations;
using Pipeline.Registry;
using Pipeline.Runtime;

namespace Pipeline;

/// <summary>What the stages found and made during one run; each stage reads what earlier ones wrote.</summary>
public sealed class DeploymentState
{
    /// <summary>When the run started.</summary>
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>The service image, tagged with the version.</summary>
    public ImageRef? Image { get; set; }

    /// <summary>The test image built from Dockerfile.tests, tagged with the version.</summary>
    public ImageRef? TestImage { get; set; }

    /// <summary>The service image's digest in the image registry, once pushed.</summary>
    public string? ImageDigest { get; set; }

    /// <summary>The port the release listens on, once the service image told it (see <see cref="DeploymentContext.ServicePort"/>).</summary>
    public int? ServicePort { get; set; }

    /// <summary>The colour that was live before this run, or null on a first deploy.</summary>
    public string? PreviousColor { get; set; }

    /// <summary>The colour this run deploys.</summary>
    public string? NewColor { get; set; }

    /// <summary>The new release as the runtime started it: its id, name, and where each replica answers.</summary>
    public ReleaseAddresses? NewAddresses { get; set; }

    /// <summary>The new release as registered.</summary>
    public ReleaseRecord? NewRelease { get; set; }

    /// <summary>True once RetireOldRelease committed the deploy (history written, journal cleared): from then on a failure rolls nothing back.</summary>
    public bool Committed { get; set; }

    /// <summary>The proxy's sessions being opened since DeployRelease started (SwitchProxy waits for them); null before.</summary>
    public Task? ProxyPrepared { get; set; }

    /// <summary>The old colour's drain, watched from the start of the post-integration tests (RetireOldRelease waits for it); null before, and on a first deploy.</summary>
    internal Tasks.DrainWatch? OldColorDrain { get; set; }

    /// <summary>From the start of SwitchProxy (pre-integration tests passed) to the proxy answering from the new colour; null until confirmed.</summary>
    public TimeSpan? SwitchLatency { get; set; }

    /// <summary>How long each step of SwitchProxy took, in order (lock, read, journal, colour key, change, confirm); empty before it ran.</summary>
    public List<(string Step, TimeSpan Took)> SwitchSteps { get; } = [];

    /// <summary>From a failing stage's error handler starting to the journal unwound; null when no rollback ran.</summary>
    public TimeSpan? RollbackDuration { get; set; }

    /// <summary>How the run failed (set by the failing stage's handler), or null.</summary>
    public Reporting.RunFailure? Failure { get; set; }

    /// <summary>The service's migrations, read and checked by Preflight (empty without a <c>migrations/</c> folder).</summary>
    public MigrationSet? Migrations { get; set; }

    /// <summary>The expand migrations this run applied (Migrate), in order.</summary>
    public List<Migration> AppliedMigrations { get; } = [];

    /// <summary>The contract migrations this run applied (after the commit point), in order.</summary>
    public List<Migration> ContractedMigrations { get; } = [];

    /// <summary>How long each stage's work took, in the order the stages ran (work that ran beside an earlier stage included).</summary>
    public List<(string Stage, TimeSpan Duration)> StageDurations { get; } = [];

    /// <summary>
    /// When each stage's work started (from the start of the run) and how long it took: stages whose work overlaps (the
    /// service image builds while the pre-deployment tests run) show it here.
    /// </summary>
    public List<StageSpan> StageSpans { get; } = [];

    /// <summary>The pushes going on beside the release (production is the CD engine); RegisterRelease waits for them. Null otherwise.</summary>
    public Task<StageSpan>? Pushes { get; set; }

    /// <summary>The service image build started beside the pre-deployment tests (BuildImage waits for it); null before.</summary>
    public Task<StageSpan>? ServiceImageBuild { get; set; }
}

/// <summary>When a stage's work ran, from the start of the run.</summary>
/// <param name="Stage">The stage.</param>
/// <param name="Start">When its work started.</param>
/// <param name="Duration">How long it took.</param>
public sealed record StageSpan(string Stage, TimeSpan Start, TimeSpan Duration)
{
    /// <summary>When its work ended.</summary>
    public TimeSpan End => Start + Duration;
}
