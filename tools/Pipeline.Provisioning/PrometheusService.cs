using System.Globalization;
using Pipeline.Proxy;

namespace Pipeline.Provisioning;

/// <summary>
/// Prometheus as one of the local services (Debian's <c>prometheus</c> package, installed without its recommended node
/// exporter): started on loopback when it does not answer, with its configuration, data and log under the state folder,
/// a retention longer than any history the forecast reads, and one scrape job, <see cref="ProxyJob"/>: every proxy
/// container Pipeline made (HAProxy or nginx) on the local engine (found by its labels through Docker service discovery, so a proxy
/// that is recreated or gets a new address is followed), at its exporter port on its network address, with the
/// container's name as the <c>container</c> label.
/// </summary>
public static class PrometheusService
{
    /// <summary>The scrape job of the proxies' exporters.</summary>
    public const string ProxyJob = "pipeline-proxy";

    /// <summary>Debian packages installed without their recommendations (prometheus recommends a node exporter that is not needed here).</summary>
    public static IReadOnlySet<string> PackagesWithoutRecommends { get; } = new HashSet<string>(StringComparer.Ordinal) { "prometheus" };

    /// <summary>
    /// Prometheus' configuration: the <see cref="ProxyJob"/> scrape job over the Docker engine at
    /// <paramref name="dockerSocket"/> (a <c>unix://</c> URL; null leaves the job out), every <paramref name="scrapeInterval"/>.
    /// <paramref name="onlyContainer"/> limits the job to one proxy container (tests use it to scrape only their own).
    /// </summary>
    public static string Config(Uri? dockerSocket, TimeSpan scrapeInterval, string? onlyContainer = null)
    {
        var interval = $"{(long)scrapeInterval.TotalSeconds}s";
        var header = $"""
            # Written by Pipeline's LocalServices: Prometheus for local builds.
            global:
              scrape_interval: {interval}
              evaluation_interval: {interval}
            """ + "\n";
        if (dockerSocket is null)
        {
            return header + "scrape_configs: []\n";
        }

        var only = onlyContainer is null ? "" : $"""

                  - source_labels: [__meta_docker_container_name]
                    regex: /?{System.Text.RegularExpressions.Regex.Escape(onlyContainer)}
                    action: keep
            """;
        var port = ProxyOptions.MetricsPort.ToString(CultureInfo.InvariantCulture);
        return header + $$"""
            scrape_configs:
              # The request counters in every proxy container Pipeline made (label {{Labels.Role}}={{Roles.Proxy}}): HAProxy's
              # built-in exporter, or nginx's from the built-in template; scraped at the container's address on its network.
              - job_name: {{ProxyJob}}
                metrics_path: /metrics
                docker_sd_configs:
                  - host: {{dockerSocket}}
                    refresh_interval: {{interval}}
                    filters:
                      - name: label
                        values: ["{{Labels.Role}}={{Roles.Proxy}}"]
                relabel_configs:
                  - source_labels: [__meta_docker_network_ip]
                    regex: (.+)
                    target_label: __address__
                    replacement: "${1}:{{port}}"
                  - source_labels: [__meta_docker_container_name]
                    regex: /?(.*)
                    target_label: container{{only}}
            """ + "\n";
    }

    /// <summary>Prometheus as a local service for <see cref="LocalServices"/>.</summary>
    internal static LocalService Describe(LocalServicesOptions options, Uri prometheus)
    {
        var directory = Path.Combine(options.StateDirectory, "prometheus");
        var listen = $"{prometheus.Host}:{prometheus.Port}";
        var retention = $"{Math.Ceiling(options.PrometheusRetention.TotalDays).ToString(CultureInfo.InvariantCulture)}d";
        var dockerSocket = options.Docker.Host.Scheme == "unix" ? options.Docker.Host : null;
        return new LocalService(
            Name: "Prometheus",
            Address: prometheus.ToString(),
            IsLocal: LocalServices.IsLoopback(prometheus.Host) && prometheus.Scheme == Uri.UriSchemeHttp && prometheus.AbsolutePath == "/",
            Program: "prometheus",
            Packages: ["prometheus"],
            LogName: "prometheus",
            NeedsRoot: false,
            OptionHint: "--prometheus-url=URL",
            Probe: (p, o, ct) => p.CheckPrometheusAsync(prometheus, o.ProbeTimeout, ct),
            Describe: r => r.Detail,
            Prepare: _ =>
            {
                var data = Path.Combine(directory, "data");
                Directory.CreateDirectory(data);
                var config = Path.Combine(directory, "prometheus.yml");
                File.WriteAllText(config, Config(dockerSocket, TimeSpan.FromSeconds(15)));
                return
                [
                    $"--config.file={config}",
                    $"--storage.tsdb.path={data}",
                    $"--storage.tsdb.retention.time={retention}",
                    $"--web.listen-address={listen}",
                ];
            },
            DataDescription: _ => $"config: {Path.Combine(directory, "prometheus.yml")}, data: {Path.Combine(directory, "data")} (kept {retention}); ",
            ManualStart: _ => $"install Prometheus (Debian: apt-get install -y --no-install-recommends prometheus), write a config that scrapes the proxy's exporter (README \"Keeping it alive and sized\"), then: setsid prometheus --config.file=CONFIG --storage.tsdb.path=DIR --storage.tsdb.retention.time={retention} --web.listen-address={listen} >prometheus.log 2>&1 < /dev/null &");
    }
}
