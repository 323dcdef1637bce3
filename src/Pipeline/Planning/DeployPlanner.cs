using Pipeline.Docker;
using Pipeline.Proxy;
using Pipeline.Registry;
using Pipeline.Runs;
using Pipeline.Runtime;
using Pipeline.Tasks;

namespace Pipeline.Planning;

/// <summary>
/// Works out what a deploy would do now, from the real state: the live colour and releases in the registry, the
/// containers, volumes and network on the production engine, the live proxy config. It only reads.
/// </summary>
public static class DeployPlanner
{
    /// <summary>The plan of a deploy of <paramref name="context"/>'s service and version.</summary>
    public static async Task<DeployPlan> CreateAsync(DeploymentContext context, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        await context.ResolveVersionAsync(ct);
        var options = context.Options;
        var service = context.Service;
        var version = context.Version;
        var catalog = context.Catalog;
        var production = context.ProductionEngine;
        var notes = new List<string>();

        var live = await catalog.GetLiveColorAsync(service, ct);
        var liveRelease = live is null ? null : await catalog.GetReleaseAsync(service, live, ct);
        var next = Colors.Next(live);
        var serviceImage = ReleaseImages.Service(context);
        var testImage = ReleaseImages.Tests(context);

        var port = options.ServicePort;
        if (port is null && await context.CdEngine.InspectImageAsync(serviceImage.ToString(), ct) is { } built)
        {
            try
            {
                port = ServicePorts.Resolve(null, built, serviceImage.ToString(), Configuration.DeploymentOptions.DefaultServicePort);
            }
            catch (ServicePortAmbiguousException e)
            {
                notes.Add(e.Message);
            }
        }

        if (port is null && !options.FromRegistry)
        {
            var exposed = DockerfileExposes(Path.Combine(options.ServiceDirectory, "Dockerfile"));
            port = exposed.Count == 1 ? exposed[0] : exposed.Count == 0 ? Configuration.DeploymentOptions.DefaultServicePort : null;
            notes.Add(exposed.Count switch
            {
                0 => $"The Dockerfile EXPOSEs no port: the release listens on {port} unless its base image EXPOSEs one (read once the image is built).",
                1 => $"The Dockerfile EXPOSEs {port}: the release listens there (read again from the image once it is built).",
                _ => $"The Dockerfile EXPOSEs {string.Join(", ", exposed)}: BuildImage will fail unless --service-port says which one.",
            });
        }

        var build = options.FromRegistry ? [] : new[] { testImage.ToString(), serviceImage.ToString() };
        var push = options.FromRegistry ? [] : new[] { serviceImage.ToString(), testImage.ToString() };
        var pull = new List<string>();
        if (options.FromRegistry)
        {
            pull.Add($"{testImage} (CD engine)");
            pull.Add($"{serviceImage} (CD engine)");
        }

        pull.Add($"{serviceImage} (production engine)");

        var create = new List<PlannedResource>();
        var remove = new List<PlannedResource>();
        var networks = await production.ListNetworksAsync(new Dictionary<string, string>(), ct);
        if (networks.All(n => n.Name != options.Network))
        {
            create.Add(new PlannedResource("network", options.Network, "production", "the pipeline network does not exist yet"));
        }

        var proxyExists = await context.Proxy.FindContainerAsync(ct) is not null;
        if (!proxyExists)
        {
            create.Add(new PlannedResource("container", options.ProxyContainer, "production", $"the {options.ProxyKind} proxy from {options.ProxyImage}, publishing {options.ProxyAddress}:{options.ProxyPort}"));
        }

        var runtime = await context.ResolveRuntimeAsync(ct);
        var onSwarm = runtime.Kind == OrchestratorKind.Swarm;
        var name = $"{service}-{next}-<deploy id>";
        create.Add(new PlannedResource("container", $"{service}-pre-deployment-tests-<id>", "cd", $"{testImage}, TEST_TYPE=pre-deployment; removed when it exits"));
        foreach (var volume in options.Volumes)
        {
            create.Add(new PlannedResource("volume", $"{name}-{volume.Name}", "production", $"mounted at {volume.Path}"));
        }

        var release = $"{serviceImage} as {next}, network {runtime.Network}, PORT={(port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "<from the image>")}, health {options.HealthPath}";
        if (onSwarm)
        {
            create.Add(new PlannedResource("service", name, "production", $"{release}, {context.Replicas} replica(s)"));
        }
        else
        {
            for (var replica = 1; replica <= context.Replicas; replica++)
            {
                create.Add(new PlannedResource("container", replica == 1 ? name : $"{name}-{replica}", "production", release));
            }
        }

        create.Add(new PlannedResource("container", $"{name}-probe-<id>", "production", $"{options.ProbeImage} on {runtime.Network}: asks the health path; removed when the release is healthy"));
        create.Add(new PlannedResource("container", $"{service}-pre-integration-tests-<id>", "production", $"{testImage} on {runtime.Network}, TEST_TYPE=pre-integration; removed when it exits"));
        create.Add(new PlannedResource("container", $"{service}-post-integration-tests-<id>", "cd", $"{testImage}, TEST_TYPE=post-integration; removed when it exits"));

        foreach (var running in await runtime.ListAsync(service, ct))
        {
            foreach (var resource in running.Names)
            {
                remove.Add(new PlannedResource(onSwarm ? "service" : "container", resource, "production",
                    $"{running.Id.Color} {running.Version ?? "-"}; after the switch"));
            }
        }

        var labels = new Dictionary<string, string> { [Labels.Service] = service, [Labels.Role] = Roles.Release };
        foreach (var volume in await production.ListVolumesAsync(labels, ct))
        {
            remove.Add(new PlannedResource("volume", volume.Name, "production",
                $"{volume.Labels.GetValueOrDefault(Labels.Color) ?? "-"} {volume.Labels.GetValueOrDefault(Labels.Version) ?? "-"}; after the switch"));
        }

        var keys = new List<PlannedKey>
        {
            new(catalog.ReleaseKey(service, next), "write", $"{service} {version} {next} at <address>:{port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "<port>"}, route {options.Route}{(options.HostName is null ? "" : $", host {options.HostName}")}"),
            new(catalog.ColorKey(service), "write", $"{live ?? "(absent)"} -> {next}"),
            new($"{catalog.HistoryPrefix(service)}<timestamp>-<deploy id>", "write", "the deploy's history entry, at the commit point"),
        };
        if (live is not null && live != next)
        {
            keys.Add(new PlannedKey(catalog.ReleaseKey(service, live), "delete", $"the retired {live} release ({liveRelease?.Version ?? "?"}), after the switch"));
        }

        keys.Add(new PlannedKey($"{options.KeyPrefix}/locks/{service}", "while running", "the deploy lock"));
        keys.Add(new PlannedKey($"{options.KeyPrefix}/locks/proxy/{options.ProxyContainer}", "while running", "the proxy lock, during the switch"));
        keys.Add(new PlannedKey($"{options.KeyPrefix}/journal/{service}/<sequence>", "while running", "the undo steps, cleared at the commit point"));
        keys.Add(new PlannedKey($"{RunLease.PrefixFor(options.KeyPrefix, service)}<deploy id>", "while running", "the run key (and its alive key, on a lease)"));
        if (options.Notify.Count > 0)
        {
            keys.Add(new PlannedKey($"{options.KeyPrefix}/outbox/{service}/<deploy id>/…", "while running", $"notifications for {options.Notify.Count} webhook(s) until delivered"));
        }

        if ((await context.Journal.ReadAsync(ct)).Count is var leftover and > 0)
        {
            notes.Add($"A run that died mid-deploy left {leftover} undo step(s) in the journal: the deploy unwinds them first (or run --target=Rollback).");
        }

        var proxyDiff = await ProxyDiffAsync(context, next, version, port, proxyExists, ct);
        return new DeployPlan(
            service, version, live, liveRelease?.Version, next, options.FromRegistry, port,
            build, push, pull, create, remove, keys, proxyDiff, notes);
    }

    /// <summary>The TCP ports the last stage of a Dockerfile EXPOSEs (numbers only; variables are not expanded).</summary>
    internal static IReadOnlyList<int> DockerfileExposes(string dockerfile)
    {
        var ports = new SortedSet<int>();
        string[] lines;
        try
        {
            lines = File.ReadAllLines(dockerfile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }

        foreach (var line in lines.Select(l => l.Trim()))
        {
            var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0)
            {
                continue;
            }

            if (words[0].Equals("FROM", StringComparison.OrdinalIgnoreCase))
            {
                ports.Clear();
            }
            else if (words[0].Equals("EXPOSE", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var word in words.Skip(1).Where(w => w.EndsWith("/tcp", StringComparison.OrdinalIgnoreCase) || !w.Contains('/')))
                {
                    if (int.TryParse(word.Split('/')[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536)
                    {
                        ports.Add(port);
                    }
                }
            }
        }

        return [.. ports];
    }

    private static async Task<string> ProxyDiffAsync(DeploymentContext context, string next, string version, int? port, bool proxyExists, CancellationToken ct)
    {
        var options = context.Options;
        var liveConfig = proxyExists ? await context.Proxy.ReadLiveConfigAsync(ct) ?? "" : "";
        var live = await context.Catalog.ReadLiveReleasesAsync(ct: ct);
        var current = live.Releases.FirstOrDefault(r => r.Service == context.Service);

        // The switch renders every replica of the new colour (their addresses are known once they start: loopback
        // stand-ins, shown as text), with the colour now live beside it as the standby.
        var replicas = Math.Max(1, options.Replicas ?? 1);
        var placeholders = Enumerable.Range(0, replicas).Select(i => $"127.255.255.{254 - i}").ToList();
        var routes = live.Releases
            .Where(r => r.Service != context.Service)
            .Select(r => ProxySwitch.RouteOf(r, live.Standbys?.GetValueOrDefault(r.Service)))
            .Append(new ProxyRoute(context.Service, options.Route, options.HostName, next, version,
                [.. placeholders.Select(a => new UpstreamEndpoint(a, port ?? Configuration.DeploymentOptions.DefaultServicePort))])
            {
                Standby = current is not null && current.Color != next
                    ? new StandbyRelease(current.Color, current.Version, ProxySwitch.Upstreams(current))
                    : null,
            })
            .OrderBy(r => r.Service, StringComparer.Ordinal)
            .ToList();
        var planned = context.Proxy.Render(routes);
        for (var i = 0; i < placeholders.Count; i++)
        {
            planned = planned.Replace(placeholders[i], i == 0 ? $"<{next} address>" : $"<{next} address {i + 1}>", StringComparison.Ordinal);
        }

        return UnifiedDiff.Create(liveConfig, planned, proxyExists ? $"{options.ProxyContainer} (live)" : $"{options.ProxyContainer} (not created yet)", $"{options.ProxyContainer} (planned)");
    }
}
