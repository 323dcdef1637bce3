using Pipeline.Docker;
using Pipeline.Provisioning;
using Pipeline.Proxy;

namespace Pipeline.Tests.Provisioning;

public sealed class BaseImagesTests
{
    private const string Proxy = ProxyOptions.DefaultImage;
    private const string Database = "127.0.0.1:5000/pipeline/postgres:bookworm-2";

    private FakeImageEngine _engine = null!;
    private FakeRunner _runner = null!;
    private HashSet<string> _registry = null!;
    private List<string> _log = null!;
    private string _work = null!;

    [SetUp]
    public void SetUp()
    {
        _engine = new FakeImageEngine();
        _runner = new FakeRunner();
        _registry = [];
        _log = [];
        _work = Path.Combine(Path.GetTempPath(), $"pipeline-baseimages-test-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(_work);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_work, recursive: true);

    private BaseImages Create() => new(_engine, _runner, _log.Add, (image, _) => Task.FromResult<bool?>(_registry.Contains(image.ToString())));

    private BaseImagesOptions Options => new() { WorkDirectory = _work, BusyboxBinary = WriteElf("busybox", interpreter: false), AptSources = ["/etc/apt/sources.list.d/debian.sources"] };

    /// <summary>A minimal 64-bit little-endian ELF file with one program header: PT_LOAD, or PT_INTERP for a dynamic one.</summary>
    private string WriteElf(string name, bool interpreter)
    {
        var bytes = new byte[64 + 56];
        bytes[0] = 0x7f;
        bytes[1] = (byte)'E';
        bytes[2] = (byte)'L';
        bytes[3] = (byte)'F';
        bytes[4] = 2; // 64-bit
        bytes[5] = 1; // little-endian
        bytes[0x20] = 64; // e_phoff
        bytes[0x36] = 56; // e_phentsize
        bytes[0x38] = 1; // e_phnum
        bytes[64] = interpreter ? (byte)3 : (byte)1;
        var path = Path.Combine(_work, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Test]
    public async Task Should_Do_Nothing_When_The_Engine_Has_Every_Image_And_The_Registry_Has_The_Pushed_Ones()
    {
        // Given
        _engine.Images.UnionWith(["busybox:latest", Proxy, Database]);
        _registry.UnionWith([Proxy, Database]);

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        report.ShouldBe(new BaseImagesReport(BaseImageAction.Existed, BaseImageAction.Existed, BaseImageAction.Existed));
        _engine.Calls.ShouldBeEmpty();
        _runner.Ran.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Build_Busybox_From_Scratch_With_The_Static_Binary_And_Its_Applet_Links()
    {
        // Given
        _engine.Images.UnionWith([Proxy, Database]);
        _registry.UnionWith([Proxy, Database]);

        // When
        var report = await Create().EnsureAsync(Options);

        // Then
        report.Busybox.ShouldBe(BaseImageAction.Built);
        _engine.Calls.ShouldBe(["build busybox:latest"]);
        _engine.BuiltContextFiles.Order(StringComparer.Ordinal).ShouldBe(["Dockerfile", "busybox"]);
        var dockerfile = _engine.BuiltDockerfiles.Single().Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#'));
        dockerfile.ShouldBe(["FROM scratch", "COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "CMD [\"sh\"]"]);
        Directory.EnumerateFileSystemEntries(_work).Count().ShouldBe(1); // only our fake binary: the context is gone
    }

    [Test]
    public async Task Should_Refuse_A_Dynamically_Linked_Busybox()
    {
        // Given
        var options = Options with { BusyboxBinary = WriteElf("busybox-dynamic", interpreter: true) };

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureBusyboxAsync(options));

        // Then
        error.Message.ShouldBe($"Cannot build busybox:latest: {options.BusyboxBinary} is not statically linked, so it cannot run in an image FROM scratch. Install the static busybox (Debian: apt-get install -y busybox-static).");
        _engine.Calls.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Pull_Busybox_When_Told_To_Use_The_Official_Image()
    {
        // When
        var action = await Create().EnsureBusyboxAsync(Options with { BusyboxSource = BaseImageSource.Pull, BusyboxImage = "docker.io/library/busybox:1.36" });

        // Then
        action.ShouldBe(BaseImageAction.Pulled);
        _engine.Calls.ShouldBe(["pull docker.io/library/busybox:1.36"]);
    }

    [Test]
    public async Task Should_Push_Busybox_As_The_Probe_Image_When_Its_Registry_Lacks_It()
    {
        // Given
        _engine.Images.Add("busybox:latest");

        // When
        var action = await Create().EnsureProbeAsync(Options with { ProbeImage = "127.0.0.1:5000/pipeline/probe:latest" });

        // Then
        action.ShouldBe(BaseImageAction.Pushed);
        _engine.Calls.ShouldBe(["tag busybox:latest 127.0.0.1:5000/pipeline/probe:latest", "push 127.0.0.1:5000/pipeline/probe:latest"]);
    }

    [Test]
    public async Task Should_Leave_The_Probe_Image_Alone_When_Its_Registry_Has_It_Or_None_Is_Asked_For()
    {
        // Given
        _registry.Add("127.0.0.1:5000/pipeline/probe:latest");

        // When
        var present = await Create().EnsureProbeAsync(Options with { ProbeImage = "127.0.0.1:5000/pipeline/probe:latest" });
        var none = await Create().EnsureProbeAsync(Options);

        // Then
        (present, none).ShouldBe((BaseImageAction.Existed, BaseImageAction.Existed));
        _engine.Calls.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Push_The_Proxy_Image_When_Only_The_Engine_Has_It()
    {
        // Given
        _engine.Images.Add(Proxy);

        // When
        var action = await Create().EnsureProxyAsync(Options);

        // Then
        action.ShouldBe(BaseImageAction.Pushed);
        _engine.Calls.ShouldBe([$"push {Proxy}"]);
    }

    [Test]
    public async Task Should_Pull_The_Proxy_Image_When_Only_The_Registry_Has_It()
    {
        // Given
        _registry.Add(Proxy);

        // When
        var action = await Create().EnsureProxyAsync(Options);

        // Then
        action.ShouldBe(BaseImageAction.Pulled);
        _engine.Calls.ShouldBe([$"pull {Proxy}"]);
        _runner.Ran.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Build_The_Proxy_Root_Filesystem_With_Mmdebstrap_Then_Import_And_Push_It()
    {
        // Given
        _runner.Programs.Add("mmdebstrap");
        _runner.OnRun = (program, args) =>
        {
            var tarball = args[args.ToList().IndexOf("bookworm") + 1];
            File.WriteAllText(tarball, "rootfs");
            return new CommandResult(program, 0, "I: success");
        };

        // When
        var action = await Create().EnsureProxyAsync(Options);

        // Then
        action.ShouldBe(BaseImageAction.Built);
        var mmdebstrap = _runner.Ran.Single();
        mmdebstrap.ShouldStartWith("mmdebstrap --variant=apt --include=nginx-light,libnginx-mod-http-lua,haproxy,socat,ca-certificates bookworm ");
        mmdebstrap.ShouldEndWith("/rootfs.tar /etc/apt/sources.list.d/debian.sources");
        _engine.Calls.ShouldBe(
        [
            $"import {Proxy} changes=CMD [\"nginx\", \"-g\", \"daemon off;\"] | ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin | EXPOSE 80 443",
            $"push {Proxy}",
        ]);
        _log.ShouldContain("  mmdebstrap: I: success");
        Directory.EnumerateDirectories(_work).ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Build_The_Database_Image_From_Postgresql_And_Psycopg2_Packages()
    {
        // Given no database image anywhere, and mmdebstrap
        _runner.Programs.Add("mmdebstrap");
        _runner.OnRun = (program, args) =>
        {
            File.WriteAllText(args[args.ToList().IndexOf("bookworm") + 1], "rootfs");
            return new CommandResult(program, 0, "I: success");
        };

        // When
        var action = await Create().EnsureDatabaseAsync(Options);

        // Then it is built from Debian's packages, imported with its own changes and pushed
        action.ShouldBe(BaseImageAction.Built);
        _runner.Ran.Single().ShouldStartWith("mmdebstrap --variant=apt --include=postgresql,python3-psycopg2 bookworm ");
        _engine.Calls.ShouldBe(
        [
            $"import {Database} changes=CMD [\"bash\"] | ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            $"push {Database}",
        ]);
    }

    [Test]
    public async Task Should_Name_The_Database_Source_Option_When_Mmdebstrap_Is_Missing()
    {
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureDatabaseAsync(Options));
        error.Message.ShouldBe($"Cannot build {Database}: mmdebstrap is not installed (Debian: apt-get install -y mmdebstrap), or set DatabaseSource to Pull where {Database} can be pulled.");
    }

    [Test]
    public async Task Should_Fail_Naming_Mmdebstrap_When_The_Proxy_Image_Must_Be_Built_Without_It()
    {
        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureProxyAsync(Options));

        // Then
        error.Message.ShouldBe($"Cannot build {Proxy}: mmdebstrap is not installed (Debian: apt-get install -y mmdebstrap), or set ProxySource to Pull where {Proxy} can be pulled.");
    }

    [Test]
    public async Task Should_Fail_With_Mmdebstrap_Output_When_It_Fails()
    {
        // Given
        _runner.Programs.Add("mmdebstrap");
        _runner.OnRun = (_, _) => new CommandResult("mmdebstrap …", 1, "E: apt-get update failed\n");

        // When
        var error = await Should.ThrowAsync<ProvisioningException>(() => Create().EnsureProxyAsync(Options));

        // Then
        error.Message.ShouldBe($"Building the root filesystem of {Proxy} failed: `mmdebstrap …` exited with 1.\n    E: apt-get update failed");
        _engine.Calls.ShouldBeEmpty();
    }

    [Test]
    public async Task Should_Not_Push_A_Proxy_Image_Without_A_Registry()
    {
        // Given
        _engine.Images.Add("haproxy:2.6");

        // When
        var action = await Create().EnsureProxyAsync(Options with { ProxyImage = "haproxy:2.6" });

        // Then
        action.ShouldBe(BaseImageAction.Existed);
        _engine.Calls.ShouldBeEmpty();
    }

    [Test]
    public void Should_Use_The_Machines_Apt_Sources_That_Mention_The_Suite()
    {
        // Given
        var apt = Directory.CreateDirectory(Path.Combine(_work, "apt")).FullName;
        var d = Directory.CreateDirectory(Path.Combine(apt, "sources.list.d")).FullName;
        File.WriteAllText(Path.Combine(d, "debian.sources"), "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n");
        File.WriteAllText(Path.Combine(d, "security.list"), "deb http://mirror.example/debian-security bookworm-security main\n");
        File.WriteAllText(Path.Combine(d, "old.list"), "# deb http://mirror.example/debian bookworm main\ndeb http://mirror.example/debian bullseye main\n");
        File.WriteAllText(Path.Combine(d, "nodesource.sources.disabled"), "Suites: bookworm\n");

        // When
        var sources = BaseImages.HostAptSources("bookworm", apt);

        // Then
        sources.ShouldBe([Path.Combine(d, "debian.sources"), Path.Combine(d, "security.list")]);
    }

    [Test]
    public void Should_Tell_A_Static_Executable_From_A_Dynamic_One()
    {
        BaseImages.IsStaticExecutable(WriteElf("static", interpreter: false)).ShouldBeTrue();
        BaseImages.IsStaticExecutable(WriteElf("dynamic", interpreter: true)).ShouldBeFalse();
        File.WriteAllText(Path.Combine(_work, "script"), "#!/bin/sh\necho hi\n");
        BaseImages.IsStaticExecutable(Path.Combine(_work, "script")).ShouldBeFalse();
    }
}
