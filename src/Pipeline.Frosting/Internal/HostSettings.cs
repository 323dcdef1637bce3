using System.ComponentModel;
using Cake.Cli;
using Cake.Core.Diagnostics;
using Cake.Core.IO;
using Spectre.Console.Cli;

namespace Pipeline.Frosting.Internal;

/// <summary>The command line Cake.Frosting understands; anything else becomes a Cake argument.</summary>
internal sealed class HostSettings : CommandSettings
{
    [CommandOption("--target|-t|--Target <TARGET>")]
    [Description("Target task to invoke; repeat to run several in order. Default: Default.")]
    public string[]? Targets { get; set; }

    [CommandOption("--working|-w <PATH>")]
    [TypeConverter(typeof(Cake.Cli.DirectoryPathConverter))]
    [Description("Sets the working directory.")]
    public DirectoryPath? WorkingDirectory { get; set; }

    [CommandOption("--verbosity|-v <VERBOSITY>")]
    [TypeConverter(typeof(VerbosityConverter))]
    [DefaultValue(Verbosity.Normal)]
    [Description("Amount of information to display.\n(Quiet, Minimal, Normal, Verbose, Diagnostic)")]
    public Verbosity Verbosity { get; set; } = Verbosity.Normal;

    [CommandOption("--description|--descriptions|--showdescription|--showdescriptions")]
    [Description("Shows the description of each task.")]
    public bool Description { get; set; }

    [CommandOption("--tree|--showtree")]
    [Description("Shows the task dependency tree.")]
    public bool Tree { get; set; }

    [CommandOption("--dryrun|--noop|--whatif")]
    [Description("Shows which tasks would run, without running them.")]
    public bool DryRun { get; set; }

    [CommandOption("--exclusive|-e")]
    [Description("Runs the target task without its dependencies.")]
    public bool Exclusive { get; set; }

    [CommandOption("--version|--ver")]
    [Description("Displays version information.")]
    public bool Version { get; set; }

    [CommandOption("--info")]
    [Description("Displays additional information about Cake.")]
    public bool Info { get; set; }

    public IReadOnlyList<string> GetTargets() =>
        Targets is { Length: > 0 } ? Targets : ["Default"];
}
