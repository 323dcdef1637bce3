namespace Pipeline.IntegrationTests.Faults;

/// <summary>
/// Faults injected into a HAProxy proxy container of a test harness (never a shared one): <c>socat</c>, through which
/// Pipeline talks to HAProxy's master CLI, is replaced by a script that counts reloads in <c>/tmp/fault-reloads</c> and
/// misbehaves as <see cref="Mode"/> says, then hands the command to the real socat. <see cref="RemoveAsync"/> puts the
/// real one back.
/// </summary>
internal static class ProxySabotage
{
    /// <summary>How the replaced socat misbehaves.</summary>
    public enum Mode
    {
        /// <summary>The first reload goes through; every later one is refused (exit 1) without reaching HAProxy.</summary>
        RefuseReloadsAfterTheFirst,

        /// <summary>
        /// The first reload goes through, but until the next reload <c>show proc</c> answers what it answered before it,
        /// as if the new worker had not come up yet: a reload that finishes after Pipeline's deadline.
        /// </summary>
        HideTheFirstReload,
    }

    public static async Task InstallAsync(PipelineHarness harness, Mode mode)
    {
        var script = $$"""
            #!/bin/sh
            # Installed by a Pipeline fault test ({{mode}}); the real socat is /usr/bin/socat.real.
            cmd=$(cat)
            n=$(cat /tmp/fault-reloads 2>/dev/null || echo 0)
            case "$cmd" in
              reload*)
                n=$((n + 1)); echo "$n" > /tmp/fault-reloads
                if [ {{mode}} = RefuseReloadsAfterTheFirst ] && [ "$n" -gt 1 ]; then echo "fault injected: reload $n refused" >&2; exit 1; fi ;;
              "show proc"*)
                if [ {{mode}} = HideTheFirstReload ]; then
                  if [ "$n" = 1 ] && [ -f /tmp/fault-show-proc ]; then cat /tmp/fault-show-proc; exit 0; fi
                  out=$(printf '%s\n' "$cmd" | /usr/bin/socat.real "$@") || exit $?
                  [ "$n" = 0 ] && printf '%s\n' "$out" > /tmp/fault-show-proc
                  printf '%s\n' "$out"; exit 0
                fi ;;
            esac
            printf '%s\n' "$cmd" | exec /usr/bin/socat.real "$@"
            """;
        await harness.Engine.PutFileAsync(harness.ProxyContainer, "/tmp/fault-socat", System.Text.Encoding.UTF8.GetBytes(script.ReplaceLineEndings("\n") + "\n"));
        var installed = await harness.Engine.ExecAsync(harness.ProxyContainer,
            ["/bin/sh", "-c", "[ -e /usr/bin/socat.real ] || mv /usr/bin/socat /usr/bin/socat.real; rm -f /tmp/fault-reloads /tmp/fault-show-proc; install -m 755 /tmp/fault-socat /usr/bin/socat"]);
        installed.ExitCode.ShouldBe(0, installed.Stderr);
    }

    public static async Task RemoveAsync(PipelineHarness harness)
    {
        var removed = await harness.Engine.ExecAsync(harness.ProxyContainer,
            ["/bin/sh", "-c", "[ ! -e /usr/bin/socat.real ] || mv -f /usr/bin/socat.real /usr/bin/socat; rm -f /tmp/fault-reloads /tmp/fault-show-proc /tmp/fault-socat"]);
        removed.ExitCode.ShouldBe(0, removed.Stderr);
    }
}
