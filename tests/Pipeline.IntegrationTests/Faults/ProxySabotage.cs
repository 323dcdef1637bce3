namespace Pipeline.IntegrationTests.Faults;

/// <summary>
/// Faults injected into a HAProxy proxy container of a test harness (never a shared one). Pipeline talks to HAProxy's
/// master CLI over one long-lived <c>socat - unix-connect:…</c> session in prompt mode, one command per line; <c>socat</c>
/// is replaced by a script that passes every other use (a one-shot readiness check) to the real one, and puts a filter
/// in front of the session's: it reads the commands line by line, keeps what it counts in <c>/tmp/fault-*</c> (shared
/// by every session, as one deploy opens several) and misbehaves as <see cref="Mode"/> says, handing every other line
/// to the real socat. <see cref="RemoveAsync"/> puts the real one back.
/// </summary>
internal static class ProxySabotage
{
    /// <summary>How the replaced socat misbehaves.</summary>
    public enum Mode
    {
        /// <summary>
        /// The colour switch (the Runtime API changes that put a server in service) goes through; every runtime change or
        /// reload asked for after it ends the session before it reaches HAProxy, as a master socket that went away would:
        /// the script says <c>fault injected: …</c> on stderr and exits 1.
        /// </summary>
        RefuseRuntimeChangesAfterTheSwitch,

        /// <summary>
        /// The first reload (and the one Pipeline signals again when nothing changed) goes through, but until the reload
        /// after them <c>show proc</c> answers what it answered before, as if the new worker had not come up yet: a reload
        /// that finishes after Pipeline's deadline.
        /// </summary>
        HideTheFirstReload,
    }

    public static async Task InstallAsync(PipelineHarness harness, Mode mode)
    {
        var script = $$"""
            #!/bin/sh
            # Installed by a Pipeline fault test ({{mode}}); the real socat is /usr/bin/socat.real.
            case " $* " in *" - unix-connect:"*) ;; *) exec /usr/bin/socat.real "$@" ;; esac
            for arg; do case $arg in unix-connect:*) socket=${arg#unix-connect:} ;; esac; done
            fifo=/tmp/fault-session-$$
            mkfifo "$fifo"
            /usr/bin/socat.real "$@" < "$fifo" &
            real=$!
            exec 4> "$fifo"
            rm -f "$fifo"
            refuse() { echo "fault injected: $1 refused: $2" >&2; kill "$real" 2>/dev/null; exit 1; }
            while IFS= read -r line; do
              case "{{mode}}:$line" in
                RefuseRuntimeChangesAfterTheSwitch:"@1 set server "*" state ready")
                  [ ! -e /tmp/fault-armed ] || refuse "runtime change" "$line"
                  touch /tmp/fault-switched ;;
                RefuseRuntimeChangesAfterTheSwitch:"@1 show servers state"*)
                  [ ! -e /tmp/fault-switched ] || touch /tmp/fault-armed ;;
                RefuseRuntimeChangesAfterTheSwitch:"@1 set "*|RefuseRuntimeChangesAfterTheSwitch:"@1 add "*|RefuseRuntimeChangesAfterTheSwitch:"@1 del "*)
                  [ ! -e /tmp/fault-armed ] || refuse "runtime change" "$line" ;;
                RefuseRuntimeChangesAfterTheSwitch:reload*)
                  [ ! -e /tmp/fault-armed ] || refuse "reload" "$line" ;;
                HideTheFirstReload:reload*)
                  n=$(cat /tmp/fault-reloads 2>/dev/null || echo 0)
                  echo $((n + 1)) > /tmp/fault-reloads ;;
                HideTheFirstReload:"show proc"*)
                  n=$(cat /tmp/fault-reloads 2>/dev/null || echo 0)
                  if [ "$n" = 0 ]; then
                    # What the master answers now, in the session's format: the answer, then the prompt.
                    raw=$(printf 'prompt\nshow proc\n' | /usr/bin/socat.real -t 5 stdio "unix-connect:$socket")
                    prompt=${raw%%#*}
                    printf '%s' "${raw#"$prompt"}" > /tmp/fault-show-proc
                  elif [ "$n" -le 2 ] && [ -s /tmp/fault-show-proc ]; then
                    cat /tmp/fault-show-proc
                    continue
                  fi ;;
              esac
              printf '%s\n' "$line" >&4 || exit 1
            done
            exec 4>&-
            wait "$real"
            """;
        await harness.Engine.PutFileAsync(harness.ProxyContainer, "/tmp/fault-socat", System.Text.Encoding.UTF8.GetBytes(script.ReplaceLineEndings("\n") + "\n"));
        var installed = await harness.Engine.ExecAsync(harness.ProxyContainer,
            ["/bin/sh", "-c", "[ -e /usr/bin/socat.real ] || mv /usr/bin/socat /usr/bin/socat.real; rm -f /tmp/fault-reloads /tmp/fault-show-proc /tmp/fault-switched /tmp/fault-armed; install -m 755 /tmp/fault-socat /usr/bin/socat"]);
        installed.ExitCode.ShouldBe(0, installed.Stderr);
    }

    public static async Task RemoveAsync(PipelineHarness harness)
    {
        var removed = await harness.Engine.ExecAsync(harness.ProxyContainer,
            ["/bin/sh", "-c", "[ ! -e /usr/bin/socat.real ] || mv -f /usr/bin/socat.real /usr/bin/socat; rm -f /tmp/fault-reloads /tmp/fault-show-proc /tmp/fault-switched /tmp/fault-armed /tmp/fault-socat"]);
        removed.ExitCode.ShouldBe(0, removed.Stderr);
    }
}
