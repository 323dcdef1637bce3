using System.Text.Encodings.Web;
using Fluid;

namespace Pipeline.Proxy;

/// <summary>
/// A proxy config template (Liquid, rendered with Fluid), consul-template style. The model it gets:
/// <list type="bullet">
/// <item><c>kind</c>, <c>port</c> (the port to listen on inside the container, 80), <c>metrics_port</c> (HAProxy's Prometheus exporter, 8405), <c>route_count</c>.</item>
/// <item><c>routes</c>: every route, longest path prefix first (a route with a host name before one without at the same length).
/// Each has <c>id</c> (unique, safe as an upstream/backend name), <c>service</c>, <c>path_prefix</c>, <c>host_name</c>
/// (empty when any host), <c>color</c>, <c>version</c> and <c>upstreams</c> (each <c>address</c>, <c>port</c>,
/// <c>endpoint</c> = <c>address:port</c>, IPv6 in brackets).</item>
/// <item><c>servers</c>: one per distinct host name plus a default one first (<c>is_default</c>, <c>name</c> = <c>_</c>):
/// each with <c>name</c>, <c>routes</c> (its own routes plus the host-less ones it does not override, longest prefix first)
/// and <c>has_root</c> (a route for <c>/</c> exists).</item>
/// </list>
/// Paths are passed to the upstreams unchanged: a route for <c>/api/</c> sends <c>/api/users</c> as <c>/api/users</c>.
/// </summary>
public sealed class ProxyTemplate
{
    private static readonly FluidParser Parser = new();
    private static readonly TemplateOptions Options = CreateOptions();
    private readonly IFluidTemplate template;

    private ProxyTemplate(IFluidTemplate template, string source)
    {
        this.template = template;
        Source = source;
    }

    /// <summary>Where the template came from (a file path or <c>built-in nginx</c>), for messages.</summary>
    public string Source { get; }

    /// <summary>Parses template text; throws <see cref="ProxyTemplateException"/> with Fluid's message when it is not valid Liquid.</summary>
    public static ProxyTemplate Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Parser.TryParse(text, out var parsed, out var error))
        {
            throw new ProxyTemplateException(source, error);
        }

        return new ProxyTemplate(parsed, source);
    }

    /// <summary>The built-in template for a proxy kind.</summary>
    public static ProxyTemplate BuiltIn(ProxyKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var name = kind == ProxyKind.Nginx ? "Pipeline.Proxy.Templates.nginx.conf.liquid" : "Pipeline.Proxy.Templates.haproxy.cfg.liquid";
        using var stream = typeof(ProxyTemplate).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"The built-in {kind} template (resource {name}) is missing from {typeof(ProxyTemplate).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), $"built-in {kind} template");
    }

    /// <summary>The user's template file when <see cref="ProxyOptions.TemplatePath"/> is set, else the built-in one.</summary>
    public static ProxyTemplate For(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TemplatePath is null)
        {
            return BuiltIn(options.Kind);
        }

        string text;
        try
        {
            text = File.ReadAllText(options.TemplatePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProxyTemplateException(options.TemplatePath, $"cannot read the file: {e.Message}", e);
        }

        return Parse(text, options.TemplatePath);
    }

    /// <summary>Validates the routes (<see cref="ProxyRouteValidation"/>) and renders the config text.</summary>
    public string Render(ProxyKind kind, IReadOnlyList<ProxyRoute> routes)
    {
        ProxyRouteValidation.Validate(routes);
        var model = ProxyTemplateModel.From(kind.Name, routes);
        var context = new TemplateContext(model, Options);
        try
        {
            return template.Render(context, NullEncoder.Default);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new ProxyTemplateException(Source, $"rendering failed: {e.Message}", e);
        }
    }

    private static TemplateOptions CreateOptions()
    {
        var options = new TemplateOptions();
        options.MemberAccessStrategy.MemberNameStrategy = MemberNameStrategies.SnakeCase;
        options.MemberAccessStrategy.Register<ProxyTemplateModel>();
        options.MemberAccessStrategy.Register<ProxyTemplateModel.Route>();
        options.MemberAccessStrategy.Register<ProxyTemplateModel.Upstream>();
        options.MemberAccessStrategy.Register<ProxyTemplateModel.Server>();
        return options;
    }
}

/// <summary>A proxy template could not be read, parsed or rendered; the message names the template.</summary>
public sealed class ProxyTemplateException(string source, string problem, Exception? inner = null)
    : Exception($"Proxy template {source}: {problem}", inner)
{
    /// <summary>Where the template came from.</summary>
    public string TemplateSource { get; } = source;
}

/// <summary>What a template sees (snake_case names in Liquid). Built from validated routes only.</summary>
internal sealed class ProxyTemplateModel
{
    public required string Kind { get; init; }

    public int Port { get; init; } = ProxyOptions.ContainerPort;

    public int MetricsPort { get; init; } = ProxyOptions.MetricsPort;

    public int RouteCount => Routes.Count;

    public required IReadOnlyList<Route> Routes { get; init; }

    public required IReadOnlyList<Server> Servers { get; init; }

    public static ProxyTemplateModel From(string kind, IReadOnlyList<ProxyRoute> routes)
    {
        var ordered = routes
            .Select(r => r with { HostName = r.HostName?.ToLowerInvariant() })
            .OrderByDescending(r => r.PathPrefix.Length)
            .ThenBy(r => r.HostName is null ? 1 : 0)
            .ThenBy(r => r.HostName, StringComparer.Ordinal)
            .ThenBy(r => r.PathPrefix, StringComparer.Ordinal)
            .Select((r, i) => new Route
            {
                Id = $"{r.Service}_{i}",
                Service = r.Service,
                PathPrefix = r.PathPrefix,
                HostName = r.HostName ?? "",
                Color = r.Color,
                Version = r.Version,
                Upstreams = r.Upstreams.Select(u => new Upstream { Address = u.Address, Port = u.Port }).ToList(),
            })
            .ToList();

        var anyHost = ordered.Where(r => r.HostName.Length == 0).ToList();
        var servers = new List<Server> { new() { Name = "_", IsDefault = true, Routes = anyHost } };
        foreach (var host in ordered.Where(r => r.HostName.Length > 0).Select(r => r.HostName).Distinct().Order(StringComparer.Ordinal))
        {
            var own = ordered.Where(r => r.HostName == host).ToList();
            var inherited = anyHost.Where(r => own.All(o => o.PathPrefix != r.PathPrefix));
            servers.Add(new Server { Name = host, IsDefault = false, Routes = ordered.Where(r => own.Contains(r) || inherited.Contains(r)).ToList() });
        }

        return new ProxyTemplateModel { Kind = kind, Routes = ordered, Servers = servers };
    }

    internal sealed class Route
    {
        public required string Id { get; init; }
        public required string Service { get; init; }
        public required string PathPrefix { get; init; }
        public required string HostName { get; init; }
        public required string Color { get; init; }
        public required string Version { get; init; }
        public required IReadOnlyList<Upstream> Upstreams { get; init; }
    }

    internal sealed class Upstream
    {
        public required string Address { get; init; }
        public required int Port { get; init; }
        public string Endpoint => Address.Contains(':') ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
    }

    internal sealed class Server
    {
        public required string Name { get; init; }
        public required bool IsDefault { get; init; }
        public required IReadOnlyList<Route> Routes { get; init; }
        public bool HasRoot => Routes.Any(r => r.PathPrefix == "/");
    }
}
