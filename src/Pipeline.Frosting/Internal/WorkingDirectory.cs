using Cake.Core.IO;

namespace Pipeline.Frosting.Internal;

/// <summary>The working directory set with UseWorkingDirectory (relative to the process' current directory).</summary>
internal sealed record WorkingDirectory(DirectoryPath Path);

/// <summary>A Cake setting set with UseCakeSetting.</summary>
internal sealed record FrostingConfigurationValue(string Key, string Value);
