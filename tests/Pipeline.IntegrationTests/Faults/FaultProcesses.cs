using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Pipeline.Docker;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Faults;

/// <summary>
/// Real processes a fault case starts and kills: a private docker-registry or etcd on free loopback ports (through
/// the provisioning code, <see cref="LocalServices"/>), and a socat relay in front of the engine's socket. Each is
/// killed by its own process id (the relay by its own process group: socat forks a child per connection).
/// </summary>
internal sealed class FaultProcesses : IDisposable
{
    private readonly List<int> _groups = [];
    private readonly ProcessCommandRunner _runner = new();

    public string StateDirectory { get; } = Directory.CreateTempSubdirectory("pipeline-faults-").FullName;

    /// <summary>Starts (or, with the same options, restarts on the same ports and data) a private registry or etcd; returns its pid.</summary>
    public async Task<int> StartServiceAsync(LocalServicesOptions options, string name)
    {
        var report = await LocalServices.ForThisMachine(TestContext.Out.WriteLine).EnsureAsync(options);
        var status = report.Services.Single(s => s.Name == name);
        status.Action.ShouldBe(ServiceAction.Started, $"{name} at {status.Address}: {status.Detail}");
        _groups.Add(status.ProcessId!.Value);
        return status.ProcessId.Value;
    }

    /// <summary>A private image registry on a free loopback port; the engine and etcd are the running ones.</summary>
    public LocalServicesOptions PrivateRegistry() => Options() with { ImageRegistry = $"127.0.0.1:{TestEnvironment.FreePort()}" };

    /// <summary>A private etcd on a free loopback port (and the next one for peers); the engine and registry are the running ones.</summary>
    public LocalServicesOptions PrivateEtcd() => Options() with { Etcd = new Uri($"http://127.0.0.1:{TestEnvironment.FreePortPair()}") };

    /// <summary>A socat relay listening on <paramref name="socket"/> and forwarding to the local engine's socket; returns its pid.</summary>
    public async Task<int> StartEngineRelayAsync(string socket)
    {
        _runner.FindExecutable("socat").ShouldNotBeNull("socat is needed on the host for the engine relay (Debian: apt-get install -y socat)");
        var pid = await _runner.StartDetachedAsync(
            "socat",
            [$"UNIX-LISTEN:{socket},fork,unlink-early", $"UNIX-CONNECT:{DockerEndpoint.Local.Host.LocalPath}"],
            Path.Combine(StateDirectory, "socat.log"));
        _groups.Add(pid);
        using var engine = new DockerEngine(new DockerEndpoint(new Uri($"unix://{socket}")));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                await engine.ListNetworksAsync(new Dictionary<string, string> { ["pipeline.none"] = "none" });
                return pid;
            }
            catch (Exception) when (DateTime.UtcNow < deadline && _runner.IsRunning(pid))
            {
                await Task.Delay(20);
            }
        }
    }

    /// <summary>
    /// SIGKILL to the process group led by <paramref name="pid"/> (a process this fixture started), then waits until it is
    /// gone and forgets it: its pid may be reused by an unrelated process before the fixture is disposed.
    /// </summary>
    public void Kill(int pid)
    {
        _groups.Remove(pid);
        using (var kill = Process.Start("kill", ["-KILL", "--", $"-{pid}"]))
        {
            kill.WaitForExit();
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_runner.IsRunning(pid))
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, $"process {pid} still runs 10 s after SIGKILL");
            Thread.Sleep(10);
        }
    }

    public void Dispose()
    {
        foreach (var pid in _groups.Where(_runner.IsRunning).ToList())
        {
            Kill(pid);
        }

        Directory.Delete(StateDirectory, recursive: true);
    }

    private LocalServicesOptions Options() => new()
    {
        Docker = TestEnvironment.Docker,
        ImageRegistry = TestEnvironment.ImageRegistry,
        Etcd = TestEnvironment.Etcd,
        StateDirectory = Path.Combine(StateDirectory, Guid.NewGuid().ToString("N")[..8]),
        AllowInstall = false,
        Tools = new Dictionary<string, string>(),
        StartTimeout = TimeSpan.FromSeconds(30),
    };

}
