using System.Text.Json;
using Cake.Core;

namespace Pipeline.Tasks;

/// <summary><c>--format=table</c> (default) or <c>--format=json</c> for the reporting targets; JSON goes alone to standard output.</summary>
internal static class OutputFormat
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>True for <c>--format=json</c>; throws naming the value when it is neither format.</summary>
    public static bool IsJson(ICakeContext context)
    {
        var format = context.Arguments.HasArgument("format") ? context.Arguments.GetArgument("format") : "table";
        return format switch
        {
            "table" => false,
            "json" => true,
            _ => throw new CakeException($"--format={format}: unknown format; use --format=table or --format=json"),
        };
    }

    /// <summary>Writes <paramref name="value"/> as indented JSON to standard output.</summary>
    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));
}
