namespace Pipeline.IntegrationTests.RoughEdges;

/// <summary>
/// A service the way a third-party image is: busybox httpd on a fixed port it EXPOSEs (it ignores PORT), with its own
/// files; its tests just fetch TARGET_URL. Built locally from busybox: nothing is pulled.
/// </summary>
internal static class ThirdPartyService
{
    /// <summary>Writes the service into <paramref name="directory"/>: httpd listening on <paramref name="listens"/>, the Dockerfile exposing <paramref name="exposes"/>.</summary>
    public static string Create(string directory, int listens, params int[] exposes)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "Dockerfile"), $"""
            FROM busybox
            RUN mkdir -p /www && echo ok > /www/health && echo "third party" > /www/index.html
            {string.Join('\n', exposes.Select(p => $"EXPOSE {p}"))}
            CMD ["httpd", "-f", "-p", "{listens}", "-h", "/www"]
            """ + "\n");
        File.WriteAllText(Path.Combine(directory, "Dockerfile.tests"), """
            FROM busybox
            CMD ["sh", "-c", "[ -z \"$TARGET_URL\" ] || timeout 5 wget -q -O - \"$TARGET_URL\" | grep -q 'third party' && echo PASS: $TEST_TYPE"]
            """ + "\n");
        return directory;
    }
}
