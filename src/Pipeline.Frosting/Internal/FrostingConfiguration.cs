using Cake.Core;
using Cake.Core.Configuration;
using Cake.Core.IO;

namespace Pipeline.Frosting.Internal;

/// <summary>
/// Cake configuration from, in rising priority: cake.config / environment (CAKE_*), UseCakeSetting values, command-line arguments.
/// </summary>
internal sealed class FrostingConfiguration : ICakeConfiguration
{
    private readonly ICakeConfiguration _inner;

    public FrostingConfiguration(
        IEnumerable<FrostingConfigurationValue> values, IFileSystem fileSystem, ICakeEnvironment environment, ICakeArguments arguments)
    {
        var baseConfiguration = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var value in values)
        {
            baseConfiguration[value.Key] = value.Value;
        }

        var args = arguments.GetArguments()
            .ToDictionary(a => a.Key, a => a.Value.FirstOrDefault() ?? string.Empty, StringComparer.OrdinalIgnoreCase);
        _inner = new CakeConfigurationProvider(fileSystem, environment)
            .CreateConfiguration(environment.WorkingDirectory, baseConfiguration, args);
    }

    public string GetValue(string key) => _inner.GetValue(key);
}
