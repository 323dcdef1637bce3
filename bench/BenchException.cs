namespace Pipeline.Bench;

/// <summary>The bench could not measure: a service it needs is missing or a warm-up deploy failed; the message says which.</summary>
internal sealed class BenchException(string message) : Exception(message);
