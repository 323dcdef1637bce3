namespace Pipeline;

/// <summary>The two release colours.</summary>
public static class Colors
{
    /// <summary>The first colour a service gets.</summary>
    public const string Blue = "blue";

    /// <summary>The other colour.</summary>
    public const string Green = "green";

    /// <summary>The colour a new release gets when <paramref name="live"/> is live (blue on a first deploy).</summary>
    public static string Next(string? live) => live == Blue ? Green : Blue;
}
