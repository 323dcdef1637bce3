using Pipeline.Docker;

namespace Pipeline.Proxy;

/// <summary>Creates the proxy adapter for <see cref="ProxyOptions.Kind"/>.</summary>
public static class ProxyFactory
{
    /// <summary>Validates the options, parses the template and returns the adapter for the kind.</summary>
    /// <exception cref="ArgumentException">An option is not valid; the message names it.</exception>
    /// <exception cref="ProxyTemplateException">The template file cannot be read or is not valid Liquid.</exception>
    public static ContainerProxy Create(ProxyOptions options, IDockerEngine engine, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(engine);
        options.Validate();
        return options.Kind == ProxyKind.Nginx
            ? new NginxProxy(options, engine, timeProvider)
            : new HaproxyProxy(options, engine, timeProvider);
    }
}
