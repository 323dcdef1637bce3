using System.Globalization;
using Docker.DotNet.Models;

namespace Pipeline.Docker;

/// <summary>
/// Turns the engine's pull, push and build messages into lines a person can follow: each layer's status changes
/// (<c>a1b2c3d4e5f6: Pushing</c>), its progress at every fifth of the way with sizes
/// (<c>a1b2c3d4e5f6: Pushing 4.2 MB / 21.0 MB (20%)</c>), and its size once done (<c>a1b2c3d4e5f6: Pushed 21.0 MB</c>).
/// Layers under <see cref="SmallLayerBytes"/> show no intermediate progress. One instance per call: it keeps each layer's state.
/// </summary>
internal sealed class LayerProgress
{
    /// <summary>Layers smaller than this (1 MB) show only their status changes.</summary>
    public const long SmallLayerBytes = 1_000_000;

    /// <summary>How many progress lines a layer gets per status (at 20%, 40%, 60%, 80%).</summary>
    private const int Steps = 5;

    private readonly Dictionary<string, (string Status, int Step, long Total)> _layers = new(StringComparer.Ordinal);

    /// <summary>The lines for one engine message (none for a progress update between two steps).</summary>
    public IEnumerable<string> Format(JSONMessage m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (string.IsNullOrEmpty(m.Status))
        {
            yield break;
        }

        var id = string.IsNullOrEmpty(m.ID) ? null : m.ID;
        if (id is null)
        {
            yield return m.Status;
            yield break;
        }

        var known = _layers.TryGetValue(id, out var layer);
        if (m.Progress is { Total: long total and > 0 } progress)
        {
            var current = Math.Clamp(Convert.ToInt64(progress.Current, CultureInfo.InvariantCulture), 0, total);
            var step = (int)(current * Steps / total);
            if (!known || layer.Status != m.Status)
            {
                _layers[id] = (m.Status, step, total);
                yield return $"{id}: {m.Status} {Size(total)}";
                yield break;
            }

            _layers[id] = (m.Status, Math.Max(step, layer.Step), total);
            if (total >= SmallLayerBytes && step > layer.Step && step < Steps)
            {
                yield return $"{id}: {m.Status} {Size(current)} / {Size(total)} ({(step * 100 / Steps).ToString(CultureInfo.InvariantCulture)}%)";
            }

            yield break;
        }

        if (m.Progress is { Current: > 0 })
        {
            // A progress update without a total (e.g. a push of unknown size): nothing to count down.
            yield break;
        }

        var finalSize = known && layer.Total > 0 && IsDone(m.Status) ? $" {Size(layer.Total)}" : "";
        _layers[id] = (m.Status, 0, known ? layer.Total : 0);
        yield return $"{id}: {m.Status}{finalSize}";
    }

    /// <summary>A size as the docker CLI shows it: <c>512 B</c>, <c>4.2 kB</c>, <c>21.0 MB</c>, <c>1.3 GB</c> (SI units).</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1000 => $"{bytes.ToString(CultureInfo.InvariantCulture)} B",
        < 1_000_000 => $"{(bytes / 1e3).ToString("0.0", CultureInfo.InvariantCulture)} kB",
        < 1_000_000_000 => $"{(bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture)} MB",
        _ => $"{(bytes / 1e9).ToString("0.0", CultureInfo.InvariantCulture)} GB",
    };

    private static bool IsDone(string status) =>
        status is "Pushed" or "Download complete" or "Pull complete" or "Layer already exists" or "Already exists" or "Mounted from";
}
