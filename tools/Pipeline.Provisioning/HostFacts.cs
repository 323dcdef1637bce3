namespace Pipeline.Provisioning;

/// <summary>What the build machine allows: installing Debian packages needs root, Debian and apt-get.</summary>
/// <param name="IsRoot">True when the build runs as root.</param>
/// <param name="IsDebian">True when <c>/etc/debian_version</c> exists.</param>
/// <param name="HasAptGet">True when apt-get is on PATH.</param>
public sealed record HostFacts(bool IsRoot, bool IsDebian, bool HasAptGet)
{
    /// <summary>True when missing packages can be installed with apt-get.</summary>
    public bool CanInstall => IsRoot && IsDebian && HasAptGet;

    /// <summary>Why packages cannot be installed, or null when they can.</summary>
    public string? WhyNoInstall =>
        !IsRoot ? $"the build does not run as root (user {Environment.UserName})"
        : !IsDebian ? "this machine is not Debian (no /etc/debian_version)"
        : !HasAptGet ? "apt-get is not on PATH"
        : null;

    /// <summary>Looks at the current machine.</summary>
    public static HostFacts Detect(ICommandRunner runner) =>
        new(Environment.IsPrivilegedProcess, File.Exists("/etc/debian_version"), runner.FindExecutable("apt-get") is not null);
}
