using Pipeline.Proxy;

namespace Pipeline.Tests.Support;

/// <summary>
/// A proxy for fast tests: renders routes as one line each (<c>route SERVICE COLOR ADDRESS:PORT</c>) behind a header
/// naming its <see cref="Template"/>, "runs" the config last applied, validates by refusing any config that contains
/// <c>reject</c>, and records every config it applied (a config it already runs is not applied again). <see cref="FailApply"/> makes applying fail after validation.
/// </summary>
public sealed class StandInProxy : IProxy
{
    private readonly List<string> _applied = [];

    /// <summary>Which template renders: a different one renders the same routes as different text.</summary>
    public string Template { get; set; } = "built-in";

    /// <summary>The config the proxy runs, or null when it has none.</summary>
    public string? Live { get; set; }

    /// <summary>When set, applying throws this (after the validator accepted the config).</summary>
    public Exception? FailApply { get; set; }

    /// <summary>Every config applied, in order.</summary>
    public IReadOnlyList<string> Applied => _applied;

    /// <inheritdoc />
    public ProxyKind Kind => ProxyKind.Haproxy;

    /// <inheritdoc />
    public Uri PublicUrl { get; } = new("http://127.0.0.1:1/");

    /// <inheritdoc />
    public Uri? PublicHttpsUrl => null;

    /// <inheritdoc />
    public Task<string> EnsureRunningAsync(CancellationToken ct = default) => EnsureRunningAsync(null, ct);

    /// <inheritdoc />
    public async Task<string> EnsureRunningAsync(Func<CancellationToken, Task>? beforeCreate, CancellationToken ct = default)
    {
        if (Live is null && beforeCreate is not null)
        {
            await beforeCreate(ct);
        }

        Live ??= Render([]);
        return "proxy-id";
    }

    /// <inheritdoc />
    public Task PrepareAsync(CancellationToken ct = default) => Task.CompletedTask;

    /// <inheritdoc />
    public Task<string?> FindContainerAsync(CancellationToken ct = default) => Task.FromResult(Live is null ? null : "proxy-id");

    /// <inheritdoc />
    public string Render(IReadOnlyList<ProxyRoute> routes)
    {
        ProxyRouteValidation.Validate(routes);
        return $"# {Template}\n" + string.Concat(routes.Select(r => $"route {r.Service} {r.Color} {string.Join(',', r.Upstreams.Select(u => $"{u.Address}:{u.Port}"))}\n"));
    }

    /// <summary>What <see cref="Render"/> makes of one route each for <paramref name="routes"/> (service, colour, address).</summary>
    public string RenderOf(params (string Service, string Color, string Address)[] routes) =>
        Render([.. routes.Select(r => new ProxyRoute(r.Service, $"/{r.Service}/", null, r.Color, "1.0.0", [new UpstreamEndpoint(r.Address, 8080)]))]);

    /// <inheritdoc />
    public Task<string?> ReadLiveConfigAsync(CancellationToken ct = default) => Task.FromResult(Live);

    /// <inheritdoc />
    public Task ValidateAsync(string config, CancellationToken ct = default) =>
        config.Contains("reject", StringComparison.Ordinal)
            ? Task.FromException(new ProxyConfigRejectedException(Kind.Name, "[ALERT] unknown keyword 'reject'"))
            : Task.CompletedTask;

    /// <inheritdoc />
    public Task<ProxyChange> ApplyAsync(string config, CancellationToken ct = default) => ApplyAsync(config, null, ct);

    /// <inheritdoc />
    public async Task<ProxyChange> ApplyAsync(string config, Action<ProxyChange>? changed, CancellationToken ct = default)
    {
        if (Live == config)
        {
            return ProxyChange.None;
        }

        await ValidateAsync(config, ct);
        if (FailApply is { } failure)
        {
            throw failure;
        }

        Live = config;
        _applied.Add(config);
        changed?.Invoke(ProxyChange.Reload);
        return ProxyChange.Reload;
    }

    /// <inheritdoc />
    public Task<int> InFlightAsync(string service, string color, CancellationToken ct = default) => Task.FromResult(0);

    /// <inheritdoc />
    public Task<ProxyChange> InstallCertificateAsync(CancellationToken ct = default) => Task.FromResult(ProxyChange.None);

    /// <inheritdoc />
    public Task<string?> CertificateAuthorityAsync(CancellationToken ct = default) => Task.FromResult<string?>(null);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
