using System.Net;
using System.Text.RegularExpressions;
using Pipeline.Docker;

namespace Pipeline.Provisioning;

/// <summary>
/// Makes sure the base images the build needs exist, building them on this machine when missing (no public
/// registry needed): <c>busybox:latest</c> from the static busybox binary, and the proxy image (nginx, HAProxy, socat)
/// and the database image (PostgreSQL, python3 with psycopg2) from Debian packages with mmdebstrap, imported and pushed
/// to the image registry. Images that exist are left alone.
/// </summary>
public sealed partial class BaseImages
{
    private readonly IDockerEngine _engine;
    private readonly ICommandRunner _runner;
    private readonly Action<string> _log;
    private readonly Func<ImageRef, CancellationToken, Task<bool?>> _registryHas;

    /// <summary>Creates the builder.</summary>
    /// <param name="engine">The engine that gets the images (and pushes them).</param>
    /// <param name="runner">Runs mmdebstrap and apt-config.</param>
    /// <param name="log">Receives one line per thing done or found.</param>
    public BaseImages(IDockerEngine engine, ICommandRunner runner, Action<string> log)
        : this(engine, runner, log, RegistryHasAsync)
    {
    }

    internal BaseImages(IDockerEngine engine, ICommandRunner runner, Action<string> log, Func<ImageRef, CancellationToken, Task<bool?>> registryHas)
    {
        _engine = engine;
        _runner = runner;
        _log = log;
        _registryHas = registryHas;
    }

    /// <summary>Makes sure the base images exist (busybox, the proxy image, the database image); returns what was done to each.</summary>
    /// <exception cref="ProvisioningException">An image is missing and cannot be made; the message says why and what to install.</exception>
    public async Task<BaseImagesReport> EnsureAsync(BaseImagesOptions options, CancellationToken ct = default)
    {
        options.Validate();
        var busybox = await EnsureBusyboxAsync(options, ct).ConfigureAwait(false);
        var proxy = await EnsureProxyAsync(options, ct).ConfigureAwait(false);
        var database = await EnsureDatabaseAsync(options, ct).ConfigureAwait(false);
        var probe = await EnsureProbeAsync(options, ct).ConfigureAwait(false);
        return new BaseImagesReport(busybox, proxy, database) { Probe = probe };
    }

    /// <summary>Makes sure the busybox image exists on the engine.</summary>
    public async Task<BaseImageAction> EnsureBusyboxAsync(BaseImagesOptions options, CancellationToken ct = default)
    {
        var image = ImageRef.Parse(options.BusyboxImage);
        if (await _engine.ImageExistsAsync(image.ToString(), ct).ConfigureAwait(false))
        {
            _log($"Image {image} exists on {_engine.Endpoint}; left as it is.");
            return BaseImageAction.Existed;
        }

        if (options.BusyboxSource == BaseImageSource.Pull)
        {
            _log($"Pulling {image}…");
            await _engine.PullImageAsync(image, ct: ct).ConfigureAwait(false);
            return BaseImageAction.Pulled;
        }

        var binary = options.BusyboxBinary;
        if (!File.Exists(binary))
        {
            throw new ProvisioningException($"Cannot build {image}: {binary} does not exist. Install the static busybox (Debian: apt-get install -y busybox-static), or set BusyboxSource to Pull where {image} can be pulled.");
        }

        if (!IsStaticExecutable(binary))
        {
            throw new ProvisioningException($"Cannot build {image}: {binary} is not statically linked, so it cannot run in an image FROM scratch. Install the static busybox (Debian: apt-get install -y busybox-static).");
        }

        var context = Path.Combine(options.WorkDirectory, $"pipeline-busybox-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(context);
        try
        {
            File.Copy(binary, Path.Combine(context, "busybox"));
            await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), BusyboxDockerfile, ct).ConfigureAwait(false);
            _log($"Building {image} FROM scratch with {binary} and its applet links in /bin…");
            var id = await _engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile", [image]), null, ct).ConfigureAwait(false);
            _log($"Built {image} ({id}).");
            return BaseImageAction.Built;
        }
        finally
        {
            Directory.Delete(context, recursive: true);
        }
    }

    /// <summary>
    /// Makes sure the probe image (<see cref="BaseImagesOptions.ProbeImage"/>) is in its registry: the busybox image
    /// tagged and pushed. Nothing to do when no probe image is asked for or its registry has it.
    /// </summary>
    public async Task<BaseImageAction> EnsureProbeAsync(BaseImagesOptions options, CancellationToken ct = default)
    {
        if (options.ProbeImage is null)
        {
            return BaseImageAction.Existed;
        }

        var image = ImageRef.Parse(options.ProbeImage);
        if (image.Registry is null || await _registryHas(image, ct).ConfigureAwait(false) == true)
        {
            _log($"Image {image} is in its registry; left as it is.");
            return BaseImageAction.Existed;
        }

        if (!await _engine.ImageExistsAsync(image.ToString(), ct).ConfigureAwait(false))
        {
            await EnsureBusyboxAsync(options, ct).ConfigureAwait(false);
            await _engine.TagImageAsync(options.BusyboxImage, image, ct).ConfigureAwait(false);
        }

        _log($"Pushing {image} (busybox, for health probes on the production side)…");
        var digest = await _engine.PushImageAsync(image, null, null, ct).ConfigureAwait(false);
        _log($"Pushed {image} ({digest}).");
        return BaseImageAction.Pushed;
    }

    /// <summary>Makes sure the proxy image exists on the engine and (when pushed) in its registry.</summary>
    public Task<BaseImageAction> EnsureProxyAsync(BaseImagesOptions options, CancellationToken ct = default) =>
        EnsureDebianImageAsync(
            options,
            new DebianImage(options.ProxyImage, options.ProxySource, nameof(options.ProxySource), options.ProxyPackages, options.ProxyImageChanges, options.PushProxyImage),
            ct);

    /// <summary>
    /// Makes sure the database image (PostgreSQL, psql and python3 with psycopg2) exists on the engine and (when pushed)
    /// in its registry: the database server, the migration runner and examples/notes run on it.
    /// </summary>
    public Task<BaseImageAction> EnsureDatabaseAsync(BaseImagesOptions options, CancellationToken ct = default) =>
        EnsureDebianImageAsync(
            options,
            new DebianImage(options.DatabaseImage, options.DatabaseSource, nameof(options.DatabaseSource), options.DatabasePackages, options.DatabaseImageChanges, options.PushDatabaseImage),
            ct);

    private async Task<BaseImageAction> EnsureDebianImageAsync(BaseImagesOptions options, DebianImage spec, CancellationToken ct)
    {
        options.Validate();
        var image = ImageRef.Parse(spec.Image);
        var push = spec.Push && image.Registry is not null;
        var onEngine = await _engine.ImageExistsAsync(image.ToString(), ct).ConfigureAwait(false);
        var inRegistry = image.Registry is null ? null : await _registryHas(image, ct).ConfigureAwait(false);

        if (onEngine && (!push || inRegistry == true))
        {
            _log($"Image {image} exists on {_engine.Endpoint}{(push ? " and in its registry" : "")}; left as it is.");
            return BaseImageAction.Existed;
        }

        if (onEngine)
        {
            _log($"Image {image} exists on {_engine.Endpoint} but not in its registry; pushing it…");
            var digest = await _engine.PushImageAsync(image, null, null, ct).ConfigureAwait(false);
            _log($"Pushed {image} ({digest}).");
            return BaseImageAction.Pushed;
        }

        if (inRegistry == true || spec.Source == BaseImageSource.Pull)
        {
            _log($"Pulling {image}…");
            await _engine.PullImageAsync(image, ct: ct).ConfigureAwait(false);
            _log($"Pulled {image}.");
            return BaseImageAction.Pulled;
        }

        await BuildDebianImageAsync(options, spec, image, ct).ConfigureAwait(false);
        if (push)
        {
            _log($"Pushing {image} so other engines can pull it…");
            var digest = await _engine.PushImageAsync(image, null, null, ct).ConfigureAwait(false);
            _log($"Pushed {image} ({digest}).");
        }

        return BaseImageAction.Built;
    }

    private async Task BuildDebianImageAsync(BaseImagesOptions options, DebianImage spec, ImageRef image, CancellationToken ct)
    {
        if (_runner.FindExecutable("mmdebstrap") is null)
        {
            throw new ProvisioningException($"Cannot build {image}: mmdebstrap is not installed (Debian: apt-get install -y mmdebstrap), or set {spec.SourceOption} to Pull where {image} can be pulled.");
        }

        var work = Path.Combine(options.WorkDirectory, $"pipeline-image-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(work);
        try
        {
            var tarball = Path.Combine(work, "rootfs.tar");
            var arguments = await MmdebstrapArgumentsAsync(options, spec.Packages, tarball, ct).ConfigureAwait(false);
            _log($"Building the root filesystem of {image} (Debian {options.ProxySuite} with {string.Join(", ", spec.Packages)}; about a minute): {ProcessCommandRunner.Format("mmdebstrap", arguments)}");
            var result = await _runner.RunAsync("mmdebstrap", arguments, null, line => _log("  mmdebstrap: " + line), ct).ConfigureAwait(false);
            result.EnsureSuccess($"Building the root filesystem of {image}");

            _log($"Importing {tarball} ({new FileInfo(tarball).Length / (1024 * 1024)} MiB) as {image}…");
            await using (var stream = File.OpenRead(tarball))
            {
                await _engine.ImportImageAsync(stream, image, spec.Changes, ct).ConfigureAwait(false);
            }

            _log($"Imported {image}.");
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>An image made of Debian packages with mmdebstrap and <c>docker import</c>.</summary>
    private sealed record DebianImage(string Image, BaseImageSource Source, string SourceOption, IReadOnlyList<string> Packages, IReadOnlyList<string> Changes, bool Push);

    internal async Task<IReadOnlyList<string>> MmdebstrapArgumentsAsync(BaseImagesOptions options, IReadOnlyList<string> packages, string tarball, CancellationToken ct)
    {
        var arguments = new List<string> { "--variant=apt", $"--include={string.Join(',', packages)}" };
        arguments.AddRange((await HostAcquireOptionsAsync(ct).ConfigureAwait(false)).Select(o => $"--aptopt={o}"));
        arguments.Add(options.ProxySuite);
        arguments.Add(tarball);
        var sources = options.AptSources ?? HostAptSources(options.ProxySuite);
        arguments.AddRange(sources);
        return arguments;
    }

    /// <summary>The machine's apt settings that matter for downloading (proxies, validity checks), as apt.conf lines.</summary>
    private async Task<IReadOnlyList<string>> HostAcquireOptionsAsync(CancellationToken ct)
    {
        if (_runner.FindExecutable("apt-config") is null)
        {
            return [];
        }

        var dump = await _runner.RunAsync("apt-config", ["dump"], null, null, ct).ConfigureAwait(false);
        return dump.Succeeded
            ? dump.Output.Split('\n').Select(l => l.Trim()).Where(l => AcquireSetting().IsMatch(l)).ToList()
            : [];
    }

    /// <summary>This machine's apt source files that mention the suite; none means mmdebstrap's default mirror.</summary>
    internal static IReadOnlyList<string> HostAptSources(string suite, string root = "/etc/apt")
    {
        var files = new List<string>();
        var list = Path.Combine(root, "sources.list");
        if (File.Exists(list))
        {
            files.Add(list);
        }

        var folder = Path.Combine(root, "sources.list.d");
        if (Directory.Exists(folder))
        {
            files.AddRange(Directory.EnumerateFiles(folder).Where(f => f.EndsWith(".list", StringComparison.Ordinal) || f.EndsWith(".sources", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        }

        var word = new Regex($@"(^|\s){Regex.Escape(suite)}(-[a-z]+)?(\s|$)", RegexOptions.Multiline);
        return files.Where(f => word.IsMatch(string.Join('\n', File.ReadAllLines(f).Where(l => !l.TrimStart().StartsWith('#'))))).ToList();
    }

    /// <summary>True when the file is an ELF executable without a program interpreter (statically linked).</summary>
    internal static bool IsStaticExecutable(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
        {
            return false;
        }

        var is64 = bytes[4] == 2;
        var little = bytes[5] == 1;
        ulong Read(int offset, int size)
        {
            ulong value = 0;
            for (var i = 0; i < size; i++)
            {
                value |= (ulong)bytes[offset + (little ? i : size - 1 - i)] << (8 * i);
            }

            return value;
        }

        var phoff = (int)(is64 ? Read(0x20, 8) : Read(0x1C, 4));
        var phentsize = (int)Read(is64 ? 0x36 : 0x2A, 2);
        var phnum = (int)Read(is64 ? 0x38 : 0x2C, 2);
        for (var i = 0; i < phnum; i++)
        {
            var at = phoff + (i * phentsize);
            if (at + 4 > bytes.Length)
            {
                return false;
            }

            if (Read(at, 4) == 3) // PT_INTERP: needs a dynamic loader
            {
                return false;
            }
        }

        return true;
    }

    private static async Task<bool?> RegistryHasAsync(ImageRef image, CancellationToken ct)
    {
        var host = image.Registry!;
        var scheme = LocalServices.IsLoopback(host.Split(':')[0]) ? "http" : "https";
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Head, $"{scheme}://{host}/v2/{image.Repository}/manifests/{image.Tag}");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.list.v2+json");
        request.Headers.Accept.ParseAdd("application/vnd.oci.image.index.v1+json");
        try
        {
            using var response = await client.SendAsync(request, ct).ConfigureAwait(false);
            return response.StatusCode switch
            {
                HttpStatusCode.OK => true,
                HttpStatusCode.NotFound => false,
                _ => null,
            };
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    internal const string BusyboxDockerfile = """
        # Written by Pipeline's BaseImages: busybox like the official image, from Debian's static busybox.
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        CMD ["sh"]

        """;

    [GeneratedRegex(@"^Acquire::(http|https|ftp|Check-Valid-Until|Check-Date|Retries|ForceIPv4|ForceIPv6)(::\S*)?\s+"".*"";$", RegexOptions.IgnoreCase)]
    private static partial Regex AcquireSetting();
}

/// <summary>What <see cref="BaseImages.EnsureAsync"/> did to each image.</summary>
/// <param name="Busybox">The busybox image.</param>
/// <param name="Proxy">The proxy image.</param>
/// <param name="Database">The database image.</param>
public sealed record BaseImagesReport(BaseImageAction Busybox, BaseImageAction Proxy, BaseImageAction Database)
{
    /// <summary>What was done for the probe image (<see cref="BaseImageAction.Existed"/> when none was asked for).</summary>
    public BaseImageAction Probe { get; init; }
}

/// <summary>What was done to make sure of a base image.</summary>
public enum BaseImageAction
{
    /// <summary>It existed (on the engine, and in its registry when pushed): nothing was done.</summary>
    Existed,

    /// <summary>It existed on the engine and was pushed to its registry.</summary>
    Pushed,

    /// <summary>It was pulled from its registry.</summary>
    Pulled,

    /// <summary>It was built on this machine (and pushed, for the proxy image).</summary>
    Built,
}
