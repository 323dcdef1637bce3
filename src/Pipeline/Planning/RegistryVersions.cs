using Pipeline.Docker;
using Pipeline.Tasks;

namespace Pipeline.Planning;

/// <summary>The versions of a service the image registry holds (both its service image and its test image).</summary>
public static class RegistryVersions
{
    /// <summary>The versions whose service image and test image are both in the image registry, sorted.</summary>
    public static async Task<IReadOnlyList<string>> ListAsync(DeploymentContext context, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var service = ReleaseImages.Service(context);
        var tests = ReleaseImages.Tests(context);
        var credentials = context.RegistryCredentials;
        var serviceTags = await ImageRegistryTags.ListAsync(context.Options.ImageRegistry, service.Repository, credentials, context.Options, ct);
        var testTags = await ImageRegistryTags.ListAsync(context.Options.ImageRegistry, tests.Repository, credentials, context.Options, ct);
        return serviceTags.Intersect(testTags, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Fails at once, listing the versions the registry holds, when it lacks the version to redeploy.</summary>
    /// <exception cref="VersionNotInRegistryException">The registry lacks the service image or the test image of the version.</exception>
    public static async Task EnsureHeldAsync(DeploymentContext context, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var held = await ListAsync(context, ct);
        if (!held.Contains(context.Version, StringComparer.Ordinal))
        {
            throw new VersionNotInRegistryException(
                $"--release-version={context.Version} --from-registry: the image registry {context.Options.ImageRegistry} does not hold both " +
                $"{ReleaseImages.Service(context)} and {ReleaseImages.Tests(context)}. " +
                (held.Count == 0
                    ? $"It holds no version of {context.Service}: deploy one without --from-registry first."
                    : $"Versions it holds: {string.Join(", ", held)}. Give one of them, or deploy {context.Version} without --from-registry.") +
                " Nothing was changed.");
        }
    }
}

/// <summary>A redeploy asked for a version the image registry does not hold; the message lists the versions it holds.</summary>
public sealed class VersionNotInRegistryException(string message) : Exception(message);
