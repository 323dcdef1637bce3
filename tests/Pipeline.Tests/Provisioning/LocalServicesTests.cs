using Pipeline.Docker;
using Pipeline.Provisioning;

namespace Pipeline.Tests.Provisioning;

public sealed class LocalServicesTests
{
    private const string Docker = "unix:///var/run/docker.sock";
    private const string Registry = "127.0.0.1:5000";
    private const string Etcd = "http://127.0.0.1:2379/";

    private static readonly HostFacts DebianRoot = new(IsRoot: true, IsDebian: true, HasAptGet: true);

    private FakeRunner _runner = null!;
    private FakeProbe _probe = null!;
    private FakeEtcdSecurity _etcdSecurity = null!;
    private List<string> _log = null!;
    private string _state = null!;

    [SetUp]
    public void SetUp()
    {
        _runner = new FakeRunner();
        _probe = new FakeProbe();
        _etcdSecurity = new FakeEtcdSecurity();
        _log = [];
        _state = Path.Combine(Path.GetTempPath(), $"pipeline-local-test-{Guid.NewGuid().ToString("N")[..8]}");
        // A started daemon answers at once.
        _runner.OnStart = program => _probe.Up.Add(program switch
        {
            "dockerd" => Docker,
            "docker-registry" => Registry,
            "etcd" => Etcd,
            _ => throw new InvalidOperationException(program),
        });
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    private LocalServicesOptions Options => new()
    {
        Docker = DockerEndpoint.Local,
        StateDirectory = _state,
        PollInterval = TimeSpan.FromMilliseconds(5),
        StartTimeout = TimeSpan.FromSeconds(5),
        ExitGracePeriod = TimeSpan.Zero,
    };

    private LocalServices Create(HostFacts? host = null) => new(_runner, _probe, _etcdSecurity, host ?? DebianRoot, _log.Add);

    private void AllProgramsInstalled() =>
        _runner.Programs.UnionWith(["dockerd", "docker-registry", "etcd", "mmdebstrap", "busybox", "apt-get"]);

    [Test]
    public async Task Should_Only_Check_When_All_Services_Answer()
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry, Etcd]);

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBeEmpty();
        _runner.Started.ShouldBeEmpty();
        report.InstalledPackages.ShouldBeEmpty();
        report.Services.Select(s => (s.Name, s.Action)).ShouldBe(
        [
            ("Docker engine", ServiceAction.AlreadyRunning),
            ("image registry", ServiceAction.AlreadyRunning),
            ("etcd", ServiceAction.AlreadyRunning),
        ]);
        report.Services.Single(s => s.Name == "etcd").Detail.ShouldBe("etcd 3.4.23");
        _log.ShouldContain("Docker engine at unix:///var/run/docker.sock answers (API 1.41); left as it is.");
        Directory.Exists(_state).ShouldBeFalse();
    }

    [Test]
    public async Task Should_Start_Only_The_Services_That_Do_Not_Answer_Without_Installing_When_Their_Programs_Exist()
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.Add(Docker);

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBeEmpty();
        _runner.Started.Select(s => s.Program).ShouldBe(["docker-registry", "etcd"]);
        report.Services.Where(s => s.Action == ServiceAction.Started).Select(s => s.Name).ShouldBe(["image registry", "etcd"]);
        _runner.Started.Select(s => s.LogFile).ShouldBe([Path.Combine(_state, "logs", "docker-registry.log"), Path.Combine(_state, "logs", "etcd.log")]);
        File.ReadAllText(Path.Combine(_state, "run", "etcd.pid")).ShouldBe($"{_runner.Started[1].Pid}\n");
    }

    [Test]
    public async Task Should_Install_Docker_Packages_After_One_Apt_Get_Update_Then_Start_Dockerd_When_The_Engine_Is_Missing()
    {
        // Given
        AllProgramsInstalled();
        _runner.Programs.Remove("dockerd");
        _probe.Up.UnionWith([Registry, Etcd]);

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBe(["apt-get update", "apt-get install -y docker.io containerd runc"]);
        _runner.Started.Select(s => (s.Program, string.Join(' ', s.Arguments))).ShouldBe([("dockerd", "")]);
        report.InstalledPackages.ShouldBe(["docker.io", "containerd", "runc"]);
        report.Services[^1].ShouldSatisfyAllConditions(
            s => s.Name.ShouldBe("Docker engine"),
            s => s.Action.ShouldBe(ServiceAction.Started),
            s => s.LogFile.ShouldBe(Path.Combine(_state, "logs", "dockerd.log")));
    }

    [Test]
    public async Task Should_Install_Everything_Missing_With_One_Update_And_One_Install_On_A_Fresh_Machine()
    {
        // Given: a fresh Debian machine: apt-get only, nothing answers
        _runner.Programs.Add("apt-get");

        // When
        await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBe(
        [
            "apt-get update",
            "apt-get install -y docker.io containerd runc docker-registry etcd-server etcd-client mmdebstrap busybox-static",
        ]);
        _runner.Started.Select(s => s.Program).ShouldBe(["dockerd", "docker-registry", "etcd"]);
    }

    [Test]
    public async Task Should_Install_Only_The_Base_Image_Tools_When_All_Services_Answer_But_Tools_Are_Missing()
    {
        // Given
        _runner.Programs.UnionWith(["apt-get", "busybox"]);
        _probe.Up.UnionWith([Docker, Registry, Etcd]);

        // When
        await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBe(["apt-get update", "apt-get install -y mmdebstrap"]);
        _runner.Started.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Leave_A_Service_To_Its_Package_When_Installing_It_Started_It()
    {
        // Given: the etcd-server package's init script starts etcd
        _runner.Programs.UnionWith(["apt-get", "dockerd", "docker-registry", "mmdebstrap", "busybox"]);
        _probe.Up.UnionWith([Docker, Registry]);
        _runner.OnRun = (program, args) =>
        {
            if (args[0] == "install")
            {
                _probe.Up.Add(Etcd);
            }

            return new CommandResult(program, 0, "");
        };

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        _runner.Ran.ShouldBe(["apt-get update", "apt-get install -y etcd-server etcd-client"]);
        _runner.Started.ShouldBeEmpty();
        report.Services.Single(s => s.Name == "etcd").Action.ShouldBe(ServiceAction.AlreadyRunning);
    }

    [Test]
    public async Task Should_Never_Install_Or_Start_Anything_For_A_Registry_That_Is_Not_On_Loopback()
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Etcd]);

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureAsync(Options with { ImageRegistry = "10.1.2.3:5000" }));

        // Then
        error.Message.ShouldBe("image registry at 10.1.2.3:5000 does not answer (connection refused). It is not on this machine's loopback, so the build only checks it: start it there, or point --image-registry=HOST:PORT at one that runs.");
        _runner.Ran.ShouldBeEmpty();
        _runner.Started.ShouldBeEmpty();
    }

    [TestCase("tcp://127.0.0.1:2375")]
    [TestCase("unix:///home/me/docker.sock")]
    [TestCase("tcp://build-host:2376")]
    public async Task Should_Only_Check_A_Docker_Engine_That_Is_Not_The_Default_Socket(string host)
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.UnionWith([Registry, Etcd]);

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureAsync(Options with { Docker = new DockerEndpoint(new Uri(host)) }));

        // Then
        error.Message.ShouldStartWith($"Docker engine at {new Uri(host)} does not answer (connection refused). It is not on this machine's loopback");
        error.Message.ShouldEndWith("point DOCKER_HOST at one that runs.");
        _runner.Started.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Name_What_To_Start_And_How_When_It_Cannot_Install()
    {
        // Given: not root; docker-registry and etcd are missing and cannot be installed
        _runner.Programs.UnionWith(["apt-get", "dockerd", "mmdebstrap", "busybox"]);
        _probe.Up.Add(Docker);
        var notRoot = DebianRoot with { IsRoot = false };

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create(notRoot).EnsureAsync(Options));

        // Then
        var lines = error.Message.Split('\n');
        lines[0].ShouldBe($"Cannot provision the image registry at 127.0.0.1:5000, the etcd at http://127.0.0.1:2379/: the build does not run as root (user {Environment.UserName}). Start them yourself, then run the build again:");
        lines[1].ShouldStartWith("  - image registry: install docker-registry (Debian: apt-get install -y docker-registry), write a config with `http: {addr: 127.0.0.1:5000}`");
        lines[1].ShouldEndWith("then: setsid docker-registry serve CONFIG >registry.log 2>&1 < /dev/null &");
        lines[2].ShouldBe("  - etcd: install etcd (Debian: apt-get install -y etcd-server etcd-client), then: setsid etcd --data-dir DIR --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380 >etcd.log 2>&1 < /dev/null &");
        lines[3].ShouldBe("Or point the build at services that run elsewhere: DOCKER_HOST=..., --image-registry=HOST:PORT, --etcd=URL.");
        _runner.Ran.ShouldBeEmpty();
        _runner.Started.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Not_Start_Dockerd_When_Not_Root_Even_When_It_Is_Installed()
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.UnionWith([Registry, Etcd]);

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create(DebianRoot with { IsRoot = false }).EnsureAsync(Options));

        // Then
        error.Message.ShouldContain("  - Docker engine: install Docker Engine (Debian: apt-get install -y docker.io containerd runc) and start it as root: systemctl start docker");
        _runner.Started.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Start_Installed_Registry_And_Etcd_Without_Root_On_A_Machine_Without_Apt()
    {
        // Given
        _runner.Programs.UnionWith(["docker-registry", "etcd"]);
        _probe.Up.Add(Docker);

        // When
        await Create(new HostFacts(IsRoot: false, IsDebian: false, HasAptGet: false)).EnsureAsync(Options);

        // Then
        _runner.Started.Select(s => s.Program).ShouldBe(["docker-registry", "etcd"]);
        _log.ShouldContain("Not installing mmdebstrap, busybox-static: the build does not run as root (user " + Environment.UserName + "). Base images that are missing cannot be built here until you run: apt-get install -y mmdebstrap busybox-static");
    }

    [Test]
    public async Task Should_Write_A_Registry_Config_With_Filesystem_Storage_Deletes_And_The_Configured_Address()
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Etcd]);
        _runner.OnStart = _ => _probe.Up.Add("localhost:5123");

        // When
        await Create().EnsureAsync(Options with { ImageRegistry = "localhost:5123" });

        // Then
        var config = Path.Combine(_state, "docker-registry", "config.yml");
        _runner.Started.Single().Arguments.ShouldBe(["serve", config]);
        var text = File.ReadAllText(config);
        text.ShouldContain($"storage:\n  filesystem:\n    rootdirectory: {Path.Combine(_state, "docker-registry", "data")}\n  delete:\n    enabled: true\n");
        text.ShouldContain("http:\n  addr: localhost:5123\n");
        Directory.Exists(Path.Combine(_state, "docker-registry", "data")).ShouldBeTrue();
    }

    [Test]
    public async Task Should_Start_Etcd_With_Its_Data_Dir_And_Client_And_Peer_Urls_On_Loopback()
    {
        // Given
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry]);
        _runner.OnStart = _ => _probe.Up.Add("http://127.0.0.1:12379/");

        // When
        await Create().EnsureAsync(Options with { Etcd = new Uri("http://127.0.0.1:12379") });

        // Then
        _runner.Started.Single().Arguments.ShouldBe(
        [
            "--name", "pipeline-local",
            "--data-dir", Path.Combine(_state, "etcd"),
            "--listen-client-urls", "http://127.0.0.1:12379",
            "--advertise-client-urls", "http://127.0.0.1:12379",
            "--listen-peer-urls", "http://127.0.0.1:12380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:12380",
            "--initial-cluster", "pipeline-local=http://127.0.0.1:12380",
        ]);
    }

    [Test]
    public async Task Should_Fail_With_The_End_Of_Its_Log_When_A_Started_Service_Exits_Before_Answering()
    {
        // Given: etcd starts, writes an error and dies
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry]);
        _runner.OnStart = _ =>
        {
            var started = _runner.Started[^1];
            File.WriteAllText(started.LogFile, "starting\nlisten tcp 127.0.0.1:2380: bind: address already in use\n");
            _runner.Dead.Add(started.Pid);
        };

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureAsync(Options));

        // Then
        var log = Path.Combine(_state, "logs", "etcd.log");
        error.Message.ShouldBe($"etcd (etcd, pid 1000) exited before answering at http://127.0.0.1:2379/ (connection refused). Its log {log} ends with:\n    starting\n    listen tcp 127.0.0.1:2380: bind: address already in use");
    }

    [Test]
    public async Task Should_Accept_A_Service_Another_Process_Started_When_Its_Own_Process_Exits()
    {
        // Given: our dockerd exits (the pid file is taken) while the package's init script brings up its own
        AllProgramsInstalled();
        _probe.Up.UnionWith([Registry, Etcd]);
        var polls = 0;
        _runner.OnStart = _ => _runner.Dead.Add(_runner.Started[^1].Pid);
        var probe = new CountingProbe(_probe, () => ++polls == 4 ? Docker : null);

        // When
        var report = await new LocalServices(_runner, probe, _etcdSecurity, DebianRoot, _log.Add).EnsureAsync(Options with { ExitGracePeriod = TimeSpan.FromSeconds(5) });

        // Then
        report.Services.Single(s => s.Name == "Docker engine").Action.ShouldBe(ServiceAction.AlreadyRunning);
        _log.ShouldContain(l => l.StartsWith("Docker engine at unix:///var/run/docker.sock answers (API 1.41), started by another process", StringComparison.Ordinal));
    }

    /// <summary>Brings an address up after a number of probes.</summary>
    private sealed class CountingProbe(FakeProbe inner, Func<string?> onProbe) : IServiceProbe
    {
        public Task<ProbeResult> PingDockerAsync(DockerEndpoint endpoint, TimeSpan timeout, CancellationToken ct = default)
        {
            if (onProbe() is { } up)
            {
                inner.Up.Add(up);
            }

            return inner.PingDockerAsync(endpoint, timeout, ct);
        }

        public Task<ProbeResult> CheckImageRegistryAsync(string hostAndPort, TimeSpan timeout, CancellationToken ct = default) => inner.CheckImageRegistryAsync(hostAndPort, timeout, ct);

        public Task<ProbeResult> CheckEtcdAsync(Uri etcd, TimeSpan timeout, CancellationToken ct = default) => inner.CheckEtcdAsync(etcd, timeout, ct);

        public Task<ProbeResult> CheckPrometheusAsync(Uri prometheus, TimeSpan timeout, CancellationToken ct = default) => inner.CheckPrometheusAsync(prometheus, timeout, ct);
    }

    [Test]
    public async Task Should_Fail_When_A_Started_Service_Does_Not_Answer_In_Time()
    {
        // Given: dockerd runs but never answers
        AllProgramsInstalled();
        _probe.Up.UnionWith([Registry, Etcd]);
        _runner.OnStart = _ => { };

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureAsync(Options with { StartTimeout = TimeSpan.FromMilliseconds(50) }));

        // Then
        error.Message.ShouldStartWith("Docker engine (dockerd, pid 1000) did not answer at unix:///var/run/docker.sock within 0.1 s (connection refused); it still runs.");
    }

    [Test]
    public async Task Should_Fail_Naming_The_Command_Exit_Code_And_Output_When_Apt_Get_Install_Fails()
    {
        // Given
        _runner.Programs.UnionWith(["apt-get", "docker-registry", "etcd", "mmdebstrap", "busybox"]);
        _probe.Up.UnionWith([Registry, Etcd]);
        _runner.OnRun = (program, args) => args[0] == "install"
            ? new CommandResult("apt-get install -y docker.io containerd runc", 100, "E: Unable to locate package docker.io\n")
            : new CommandResult("apt-get update", 0, "");

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureAsync(Options));

        // Then
        error.Message.ShouldBe("Installing docker.io, containerd, runc failed: `apt-get install -y docker.io containerd runc` exited with 100.\n    E: Unable to locate package docker.io");
        _runner.Started.ShouldBeEmpty();
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Should_Turn_Authentication_On_In_An_Etcd_It_Starts_With_Passwords_Only_Its_Owner_Can_Read()
    {
        // Given a machine whose etcd does not run
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry]);

        // When
        var report = await Create().EnsureAsync(Options);

        // Then etcd got root and the pipeline's user, with passwords generated into owner-only files
        var (etcd, accounts) = _etcdSecurity.Enabled.ShouldHaveSingleItem();
        etcd.ShouldBe(new Uri(Etcd));
        accounts.User.ShouldBe("pipeline");
        var secrets = Path.Combine(_state, "secrets");
        File.ReadAllText(Path.Combine(secrets, "etcd-pipeline.password")).ShouldBe(accounts.UserPassword + "\n");
        File.ReadAllText(Path.Combine(secrets, "etcd-root.password")).ShouldBe(accounts.RootPassword + "\n");
        accounts.UserPassword.Length.ShouldBeGreaterThanOrEqualTo(40);
        accounts.UserPassword.ShouldNotBe(accounts.RootPassword);
        File.GetUnixFileMode(secrets).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.GetUnixFileMode(Path.Combine(secrets, "etcd-pipeline.password")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        report.EtcdPasswordFile.ShouldBe(Path.Combine(secrets, "etcd-pipeline.password"));
        accounts.ToString().ShouldNotContain(accounts.UserPassword);
        _log.ShouldNotContain(line => line.Contains(accounts.UserPassword) || line.Contains(accounts.RootPassword));
    }

    [Test]
    public async Task Should_Keep_The_Passwords_It_Generated_Once()
    {
        // Given etcd started and secured once, then found down again (its passwords stay in the state folder)
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry]);
        await Create().EnsureAsync(Options);
        _probe.Up.Remove(Etcd);
        _etcdSecurity.AuthenticationOn = false;

        // When it is provisioned again
        await Create().EnsureAsync(Options);

        // Then the same passwords were given again
        _etcdSecurity.Enabled.Count.ShouldBe(2);
        _etcdSecurity.Enabled[1].Accounts.ShouldBe(_etcdSecurity.Enabled[0].Accounts);
    }

    [Test]
    public async Task Should_Leave_A_Running_Etcd_Without_Authentication_As_It_Is_And_Say_So()
    {
        // Given etcd that already runs without authentication (other clients may use it without credentials)
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry, Etcd]);

        // When provisioned by default, then with SecureExistingEtcd
        var report = await Create().EnsureAsync(Options);
        var untouched = _etcdSecurity.Enabled.Count;
        var secured = await Create().EnsureAsync(Options with { SecureExistingEtcd = true });

        // Then it is left as it is and the log says why and how to change it; when told, it is secured
        untouched.ShouldBe(0);
        report.EtcdPasswordFile.ShouldBeNull();
        _log.ShouldContain("etcd at http://127.0.0.1:2379/ runs without authentication (it ran before this build): whoever reaches it can write the deploy journal. "
            + "It is left so, because turning authentication on makes every client without credentials fail; turn it on with --secure-etcd=true.");
        _etcdSecurity.Enabled.ShouldHaveSingleItem();
        secured.EtcdPasswordFile.ShouldBe(Path.Combine(_state, "secrets", "etcd-pipeline.password"));
    }

    [Test]
    public async Task Should_Name_The_Variables_When_Etcd_Has_Authentication_But_No_Password_File_Is_Here()
    {
        // Given etcd with authentication on, secured by someone else
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry, Etcd]);
        _etcdSecurity.AuthenticationOn = true;

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        _etcdSecurity.Enabled.ShouldBeEmpty();
        report.EtcdPasswordFile.ShouldBeNull();
        _log.ShouldContain($"etcd at http://127.0.0.1:2379/ has authentication on, and {Path.Combine(_state, "secrets", "etcd-pipeline.password")} does not exist: give the pipeline an etcd user with PIPELINE_ETCD_USERNAME and PIPELINE_ETCD_PASSWORD (or PIPELINE_ETCD_PASSWORD_FILE).");
    }

    [Test]
    public async Task Should_Not_Secure_Etcd_When_Told_Not_To()
    {
        AllProgramsInstalled();
        _probe.Up.UnionWith([Docker, Registry]);

        var report = await Create().EnsureAsync(Options with { EtcdAuthentication = false });

        _etcdSecurity.Enabled.ShouldBeEmpty();
        report.EtcdPasswordFile.ShouldBeNull();
    }

    [TestCase("http://127.0.0.1:5000")]
    [TestCase("127.0.0.1:5000/v2")]
    public void Should_Reject_An_Image_Registry_That_Is_Not_Host_And_Port(string registry)
    {
        var error = Should.Throw<ArgumentException>(() => new LocalServicesOptions { ImageRegistry = registry }.Validate());
        error.Message.ShouldStartWith($"Image registry '{registry}' is not host:port (e.g. 127.0.0.1:5000).");
    }

    [TestCase("127.0.0.1", true)]
    [TestCase("127.0.0.53", true)]
    [TestCase("localhost", true)]
    [TestCase("[::1]", true)]
    [TestCase("10.0.0.5", false)]
    [TestCase("registry.example.com", false)]
    public void Should_Tell_Loopback_Hosts_From_Others(string host, bool loopback) =>
        LocalServices.IsLoopback(host).ShouldBe(loopback);
}
