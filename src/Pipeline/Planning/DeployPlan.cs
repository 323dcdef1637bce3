namespace Pipeline.Planning;

/// <summary>A resource a deploy would create or remove.</summary>
/// <param name="Kind"><c>container</c>, <c>volume</c> or <c>network</c>.</param>
/// <param name="Name">Its name (<c>&lt;deploy id&gt;</c> stands for the id the deploy will get).</param>
/// <param name="Engine"><c>production</c> or <c>cd</c>.</param>
/// <param name="Detail">Why, or what it holds.</param>
public sealed record PlannedResource(string Kind, string Name, string Engine, string Detail);

/// <summary>A registry key a deploy would write or delete.</summary>
/// <param name="Key">The key (<c>&lt;…&gt;</c> parts are known only when the deploy runs).</param>
/// <param name="Action"><c>write</c>, <c>delete</c>, or <c>while running</c> (gone when the deploy ends).</param>
/// <param name="Detail">The value, or what changes.</param>
public sealed record PlannedKey(string Key, string Action, string Detail);

/// <summary>
/// What a deploy would do now, from the real state (nothing changed to find it): the colours, the images, the
/// resources created and removed, the registry keys, and the proxy config as a unified diff against the live one.
/// </summary>
/// <param name="Service">The service.</param>
/// <param name="Version">The version it would deploy.</param>
/// <param name="LiveColor">The colour live now (null: never deployed).</param>
/// <param name="LiveVersion">The version live now.</param>
/// <param name="NextColor">The colour it would deploy.</param>
/// <param name="FromRegistry">True when it would redeploy from the image registry.</param>
/// <param name="ServicePort">The port the release would listen on, when known before the image is built.</param>
/// <param name="ImagesToBuild">Images built on the CD engine.</param>
/// <param name="ImagesToPush">Images pushed to the image registry.</param>
/// <param name="ImagesToPull">Images pulled (<c>image (engine)</c>).</param>
/// <param name="Create">What it would create.</param>
/// <param name="Remove">What it would remove (after the switch).</param>
/// <param name="Keys">The registry keys it would write or delete.</param>
/// <param name="ProxyDiff">The proxy config change as a unified diff (empty: no change).</param>
/// <param name="Notes">Anything else worth knowing (a journal a dead run left, a missing proxy).</param>
public sealed record DeployPlan(
    string Service,
    string Version,
    string? LiveColor,
    string? LiveVersion,
    string NextColor,
    bool FromRegistry,
    int? ServicePort,
    IReadOnlyList<string> ImagesToBuild,
    IReadOnlyList<string> ImagesToPush,
    IReadOnlyList<string> ImagesToPull,
    IReadOnlyList<PlannedResource> Create,
    IReadOnlyList<PlannedResource> Remove,
    IReadOnlyList<PlannedKey> Keys,
    string ProxyDiff,
    IReadOnlyList<string> Notes);
