using Microsoft.Extensions.DependencyInjection;

namespace Pipeline.Frosting;

/// <summary>Configures services for the host; use with <see cref="CakeHostExtensions.UseStartup{TStartup}"/>.</summary>
public interface IFrostingStartup
{
    /// <summary>Configures the services.</summary>
    /// <param name="services">The service collection.</param>
    void Configure(IServiceCollection services);
}
