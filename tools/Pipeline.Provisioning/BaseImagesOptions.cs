using Pipeline.Docker;
using Pipeline.Proxy;

namespace Pipeline.Provisioning;

/// <summary>Where a base image comes from when the engine does not have it.</summary>
public enum BaseImageSource
{
    /// <summary>Built on this machine from Debian packages (busybox-static, mmdebstrap): works without any public registry.</summary>
    Build,

    /// <summary>Pulled from its registry (e.g. the official image on Docker Hub).</summary>
    Pull,
}

/// <summary>Which base images <see cref="BaseImages"/> makes sure of, and how it builds them.</summary>
public sealed record BaseImagesOptions
{
    /// <summary>The busybox image that Dockerfiles saying <c>FROM busybox</c> get.</summary>
    /// <value>The default value is <c>busybox:latest</c>.</value>
    public string BusyboxImage { get; init; } = "busybox:latest";

    /// <summary>
    /// The probe image a deploy's health checks run in on the production side (<c>--probe-image</c>): the busybox image
    /// under another name, pushed to its registry so a production engine can pull it; null makes none.
    /// </summary>
    /// <value>The default value is null: no probe image.</value>
    public string? ProbeImage { get; init; }

    /// <summary>Where the busybox image comes from when missing.</summary>
    /// <value>The default value is <see cref="BaseImageSource.Build"/>.</value>
    public BaseImageSource BusyboxSource { get; init; } = BaseImageSource.Build;

    /// <summary>The statically linked busybox binary copied into the image (Debian package busybox-static).</summary>
    /// <value>The default value is <c>/bin/busybox</c>.</value>
    public string BusyboxBinary { get; init; } = "/bin/busybox";

    /// <summary>The proxy image (nginx-light with its Lua module, haproxy, socat, ca-certificates on Debian), pushed so a production engine can pull it. Change the tag (ProxyOptions.DefaultImage) when the packages change.</summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/proxy:bookworm-2</c> (<see cref="ProxyOptions.DefaultImage"/>, the image a deploy runs by default).</value>
    public string ProxyImage { get; init; } = ProxyOptions.DefaultImage;

    /// <summary>Where the proxy image comes from when neither the engine nor its registry has it.</summary>
    /// <value>The default value is <see cref="BaseImageSource.Build"/>.</value>
    public BaseImageSource ProxySource { get; init; } = BaseImageSource.Build;

    /// <summary>The Debian suite the proxy and database images are made of.</summary>
    /// <value>The default value is <c>bookworm</c>.</value>
    public string ProxySuite { get; init; } = "bookworm";

    /// <summary>The Debian packages in the proxy image (on top of the <c>apt</c> variant).</summary>
    /// <value>The default value is nginx-light, libnginx-mod-http-lua (the nginx colour switch and routes without a reload), haproxy, socat and ca-certificates.</value>
    public IReadOnlyList<string> ProxyPackages { get; init; } = ["nginx-light", "libnginx-mod-http-lua", "haproxy", "socat", "ca-certificates"];

    /// <summary>Dockerfile instructions applied when importing the proxy root filesystem (what <c>docker import --change</c> takes).</summary>
    /// <value>The default value sets CMD to nginx in the foreground, PATH, and exposes 80 and 443.</value>
    public IReadOnlyList<string> ProxyImageChanges { get; init; } =
    [
        "CMD [\"nginx\", \"-g\", \"daemon off;\"]",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "EXPOSE 80 443",
    ];

    /// <summary>The database image: PostgreSQL server and psql (the database, the migration runner) and python3 with psycopg2 (examples/notes).</summary>
    /// <value>The default value is <c>127.0.0.1:5000/pipeline/postgres:bookworm-2</c>.</value>
    public string DatabaseImage { get; init; } = "127.0.0.1:5000/pipeline/postgres:bookworm-2";

    /// <summary>Where the database image comes from when neither the engine nor its registry has it.</summary>
    /// <value>The default value is <see cref="BaseImageSource.Build"/>.</value>
    public BaseImageSource DatabaseSource { get; init; } = BaseImageSource.Build;

    /// <summary>The Debian packages in the database image (on top of the <c>apt</c> variant).</summary>
    /// <value>The default value is postgresql and python3-psycopg2.</value>
    public IReadOnlyList<string> DatabasePackages { get; init; } = ["postgresql", "python3-psycopg2"];

    /// <summary>Dockerfile instructions applied when importing the database root filesystem.</summary>
    /// <value>
    /// The default value sets PATH and sets CMD to bash (the database server and the runner pass their own command). It
    /// exposes no port: services built on it (examples/notes) expose their own, and the release's port is the one its
    /// image exposes.
    /// </value>
    public IReadOnlyList<string> DatabaseImageChanges { get; init; } =
    [
        "CMD [\"bash\"]",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ];

    /// <summary>Whether the database image is pushed to its registry after it is built (or when only the engine has it).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool PushDatabaseImage { get; init; } = true;

    /// <summary>
    /// apt sources for mmdebstrap (files or one-line entries), or null for this machine's own sources that
    /// mention <see cref="ProxySuite"/> (/etc/apt/sources.list and /etc/apt/sources.list.d/*).
    /// </summary>
    /// <value>The default value is null.</value>
    public IReadOnlyList<string>? AptSources { get; init; }

    /// <summary>Whether the proxy image is pushed to its registry after it is built (or when only the engine has it).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool PushProxyImage { get; init; } = true;

    /// <summary>Where build contexts and root filesystem tarballs are made (removed afterwards).</summary>
    /// <value>The default value is the system's temporary folder.</value>
    public string WorkDirectory { get; init; } = Path.GetTempPath();

    /// <summary>Checks the values once; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public BaseImagesOptions Validate()
    {
        foreach (var (name, value) in new[] { (nameof(BusyboxImage), BusyboxImage), (nameof(ProxyImage), ProxyImage), (nameof(DatabaseImage), DatabaseImage), (nameof(ProbeImage), ProbeImage ?? BusyboxImage) })
        {
            if (!ImageRef.TryParse(value, out _, out var reason))
            {
                throw new ArgumentException($"{name} '{value}' is not an image reference: {reason}.");
            }
        }

        foreach (var (name, packages) in new[] { (nameof(ProxyPackages), ProxyPackages), (nameof(DatabasePackages), DatabasePackages) })
        {
            if (packages.Count == 0 || packages.Any(p => string.IsNullOrWhiteSpace(p) || p.Contains(',') || p.Contains(' ')))
            {
                throw new ArgumentException($"{name} must name Debian packages (no commas or spaces).");
            }
        }

        if (string.IsNullOrWhiteSpace(ProxySuite))
        {
            throw new ArgumentException("ProxySuite must name a Debian suite (e.g. bookworm).");
        }

        return this;
    }
}
