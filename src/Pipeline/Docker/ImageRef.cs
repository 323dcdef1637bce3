using System.Text.RegularExpressions;

namespace Pipeline.Docker;

/// <summary>An image reference: <c>[registry/]repository[:tag]</c>, e.g. <c>127.0.0.1:5000/hello:1.4.0</c>.</summary>
public sealed partial record ImageRef(string? Registry, string Repository, string Tag)
{
    /// <summary>The repository with its registry, without the tag (what the Engine API calls <c>fromImage</c>).</summary>
    public string Name => Registry is null ? Repository : $"{Registry}/{Repository}";

    /// <inheritdoc />
    public override string ToString() => $"{Name}:{Tag}";

    /// <summary>Parses a reference; a missing tag means <c>latest</c>.</summary>
    /// <exception cref="FormatException">The text is not a valid image reference; the message names it.</exception>
    public static ImageRef Parse(string text)
    {
        if (!TryParse(text, out var image, out var reason))
        {
            throw new FormatException($"'{text}' is not a valid image reference: {reason}. Use [registry/]repository[:tag], e.g. 127.0.0.1:5000/hello:1.0.0.");
        }

        return image;
    }

    /// <summary>Parses a reference, or says why it cannot.</summary>
    public static bool TryParse(string? text, out ImageRef image, out string reason)
    {
        image = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            reason = "it is empty";
            return false;
        }

        var rest = text;
        string? registry = null;
        var slash = rest.IndexOf('/');
        if (slash > 0)
        {
            var first = rest[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost")
            {
                registry = first;
                rest = rest[(slash + 1)..];
                if (!RegistryPattern().IsMatch(registry))
                {
                    reason = $"registry '{registry}' is not host[:port]";
                    return false;
                }
            }
        }

        var tag = "latest";
        var colon = rest.LastIndexOf(':');
        if (colon >= 0)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
        }

        if (!RepositoryPattern().IsMatch(rest))
        {
            reason = $"repository '{rest}' must be lowercase letters, digits and separators (. _ - /)";
            return false;
        }

        if (!TagPattern().IsMatch(tag))
        {
            reason = $"tag '{tag}' must be 1-128 letters, digits, '.', '_' or '-' and not start with '.' or '-'";
            return false;
        }

        image = new ImageRef(registry, rest, tag);
        reason = "";
        return true;
    }

    /// <summary>The same repository with another tag.</summary>
    public ImageRef WithTag(string tag) => this with { Tag = tag };

    [GeneratedRegex(@"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?\z")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\z")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z")]
    private static partial Regex TagPattern();
}
