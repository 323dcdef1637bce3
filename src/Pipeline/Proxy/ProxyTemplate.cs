using System.Text.Encodings.Web;
using Fluid;

namespace Pipeline.Proxy;

/// <summary>
/// A proxy config template (Liquid, rendered with Fluid), consul-template style. The model it gets:
/// <list type="bullet">
/// <item><c>kind</c>, <c>port</c> (the port to listen on inside the container, 80), <c>metrics_port</c> (the request counters Prometheus scrapes at <c>/metrics</c>, 8405), <c>https_port</c> (443 when the proxy
/// terminates TLS, else 0) with <c>certificate_path</c> (the certificate chain and key in one PEM file), <c>route_count</c>, and the files and
/// sockets the built-in templates use: <c>map_path</c> (HAProxy: route member → version), <c>state_path</c> and
/// <c>admin_socket</c> (nginx: the routes, and the socket their runtime changes come through).</item>
/// <item><c>routes</c>: every route, longest path prefix first (a route with a host name before one without at the same length).
/// Each has <c>id</c> (unique, safe as an upstream/backend name), <c>service</c>, <c>path_prefix</c>, <c>host_name</c>
/// (empty when any host), <c>color</c>, <c>version</c> and <c>upstreams</c> of the live colour (each <c>address</c>, <c>port</c>,
/// <c>endpoint</c> = <c>address:port</c>, IPv6 in brackets), and <c>members</c>: one per upstream of each colour (blue and
/// green always, a colour without a release as one placeholder), in a fixed order whichever colour is live, each with
/// <c>name</c> (the colour, then <c>colour_2</c>, …), <c>color</c>, <c>address</c>, <c>port</c>, <c>endpoint</c>,
/// <c>active</c> (true for the live colour's), <c>placeholder</c> and <c>version</c>.</item>
/// <item><c>servers</c>: one per distinct host name plus a default one first (<c>is_default</c>, <c>name</c> = <c>_</c>):
/// each with <c>name</c>, <c>routes</c> (its own routes plus the host-less ones it does not override, longest prefix first)
/// and <c>has_root</c> (a route for <c>/</c> exists).</item>
/// </list>
/// Paths are passed to the upstreams unchanged: a route for <c>/api/</c> sends <c>/api/users</c> as <c>/api/users</c>.
/// A colour switch changes <c>color</c>, <c>version</c>, <c>upstreams</c> and the members' <c>address</c>, <c>port</c>,
/// <c>active</c> and <c>version</c>; a template that prints only what its proxy can change at runtime (HAProxy: the members'
/// addresses and states; nginx: nothing, the routes live in <c>state_path</c>) lets a switch happen without a reload.
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
    /// <param name="kind">The proxy kind.</param>
    /// <param name="routes">The routes.</param>
    /// <param name="https">True to terminate TLS too (<c>https_port</c> 443 and <c>certificate_path</c> in the model).</param>
    public string Render(ProxyKind kind, IReadOnlyList<ProxyRoute> routes, bool https = false)
    {
        ProxyRouteValidation.Validate(routes);
        return RenderModel(ProxyTemplateModel.From(kind.Name, routes, masked: false, https));
    }

    /// <summary>
    /// The config's shape: the text rendered with every value that a colour switch changes replaced by a marker. Two
    /// configs with the same shape differ only in where routes send traffic. Also says which kinds of switch values the
    /// template prints (a proxy can change some of them at runtime, not others).
    /// </summary>
    internal ProxyShape Shape(ProxyKind kind, IReadOnlyList<ProxyRoute> routes, bool https = false)
    {
        ProxyRouteValidation.Validate(routes);
        var text = RenderModel(ProxyTemplateModel.From(kind.Name, routes, masked: true, https));
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..32];
        return new ProxyShape(
            hash,
            PrintsLiveValues: text.Contains(ProxyTemplateModel.LiveMarker, StringComparison.Ordinal),
            PrintsMemberAddresses: text.Contains(ProxyTemplateModel.AddressMarker, StringComparison.Ordinal),
            PrintsMemberVersions: text.Contains(ProxyTemplateModel.VersionMarker, StringComparison.Ordinal));
    }

    private string RenderModel(ProxyTemplateModel model)
    {
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
        options.MemberAccessStrategy.Register<ProxyTemplateModel.Member>();
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

