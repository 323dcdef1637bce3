using System.Formats.Tar;
using System.Net;
using System.Net.Sockets;
using Pipeline.Docker;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Docker;

/// <summary>The Docker adapter against the real dockerd (and the registry on 127.0.0.1:5000).</summary>
[TestFixture]
public sealed class DockerEngineTests
{
    private DockerEngine _engine = null!;
    private ImageRef _busybox = null!;
    private readonly List<string> _containers = [];
    private readonly List<string> _networks = [];
    private readonly List<string> _volumes = [];
    private readonly List<ImageRef> _images = [];
    private readonly List<string> _folders = [];

    [OneTimeSetUp]
    public async Task BuildBusybox()
    {
        _engine = new DockerEngine(TestEnvironment.Docker);
        _busybox = await BusyboxImage.BuildAsync(_engine);
    }

    [OneTimeTearDown]
    public async Task RemoveBusybox()
    {
        await BusyboxImage.RemoveImageAsync(_busybox);
        _engine.Dispose();
    }

    [TearDown]
    public async Task RemoveWhatTheTestCreated()
    {
        foreach (var id in _containers)
        {
            await _engine.RemoveContainerAsync(id);
        }

        foreach (var name in _networks)
        {
            await _engine.RemoveNetworkAsync(name);
        }

        foreach (var name in _volumes)
        {
            await _engine.RemoveVolumeAsync(name);
        }

        foreach (var image in _images)
        {
            await BusyboxImage.RemoveImageAsync(image);
        }

        foreach (var folder in _folders)
        {
            Directory.Delete(folder, true);
        }

        _containers.Clear();
        _networks.Clear();
        _volumes.Clear();
        _images.Clear();
        _folders.Clear();
    }

    // ---------------------------------------------------------------- Ping

    [Test]
    public async Task Should_Return_Engine_Version_When_Pinged()
    {
        // When
        var version = await _engine.PingAsync();

        // Then
        version.ShouldMatch(@"^\d+\.\d+\.\d+.* \(API \d+\.\d+\)$");
    }

    [Test]
    public async Task Should_Name_Endpoint_And_Fix_When_Engine_Is_Unreachable()
    {
        // Given
        var socket = $"/tmp/{TestEnvironment.UniqueName("no-engine")}.sock";
        using var engine = new DockerEngine(new DockerEndpoint(new Uri($"unix://{socket}")));

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => engine.PingAsync());

        // Then
        error.Message.ShouldStartWith($"Could not reach the Docker engine at unix://{socket}");
        error.Message.ShouldEndWith("Start dockerd or set DOCKER_HOST.");
        error.StatusCode.ShouldBeNull();
    }

    // ---------------------------------------------------------------- BuildImageAsync

    [Test]
    public async Task Should_Return_Image_Id_With_Tags_Labels_And_Build_Args_When_Build_Succeeds()
    {
        // Given
        var context = Context(new Dictionary<string, string>
        {
            ["Dockerfile.app"] = $"""
                FROM {_busybox}
                ARG GREETING
                RUN echo "$GREETING" > /greeting
                """,
        });
        var tag = new ImageRef(null, "pipeline-test-app", TestEnvironment.UniqueName("b"));
        _images.Add(tag);
        var lines = new List<string>();
        var labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.version"] = "1.4.0" };

        // When
        var id = await _engine.BuildImageAsync(
            new ImageBuildRequest(context, "Dockerfile.app", [tag], labels, new Dictionary<string, string> { ["GREETING"] = "hello from a build arg" }),
            new SyncProgress(lines));

        // Then
        id.ShouldMatch("^sha256:[0-9a-f]{64}$");
        (await _engine.ImageExistsAsync(tag.ToString())).ShouldBeTrue();
        (await _engine.ImageExistsAsync(id)).ShouldBeTrue();
        lines.ShouldContain(l => l.StartsWith("Step ") && l.Contains(" : RUN echo \"$GREETING\" > /greeting"));
        var container = await Create(new ContainerSpec { Name = TestEnvironment.UniqueName("pipeline-test-build"), Image = tag.ToString(), Command = ["cat", "/greeting"] });
        (await _engine.InspectContainerAsync(container))!.Labels.ShouldContainKeyAndValue("pipeline.version", "1.4.0");
        (await _engine.InspectContainerAsync(container))!.ImageId.ShouldBe(id);
        await _engine.StartContainerAsync(container);
        (await _engine.WaitContainerAsync(container)).ShouldBe(0);
        (await Logs(container)).ShouldBe(["hello from a build arg"]);
    }

    [Test]
    public async Task Should_Throw_With_Error_And_Output_Tail_When_A_Build_Step_Fails()
    {
        // Given
        var context = Context(new Dictionary<string, string>
        {
            ["Dockerfile.broken"] = $"""
                FROM {_busybox}
                RUN echo about to fail && exit 3
                """,
        });
        var tag = new ImageRef(null, "pipeline-test-broken", TestEnvironment.UniqueName("b"));
        _images.Add(tag);

        // When
        var error = await Should.ThrowAsync<ImageBuildFailedException>(() =>
            _engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile.broken", [tag], BusyboxImage.TestLabels)));

        // Then
        error.Error.ShouldBe("The command '/bin/sh -c echo about to fail && exit 3' returned a non-zero code: 3");
        error.OutputTail.ShouldContain("about to fail");
        error.Message.ShouldStartWith($"Building {Path.Combine(context, "Dockerfile.broken")} ({tag}) on {TestEnvironment.Docker} failed: {error.Error}");
        error.Message.ShouldContain(Environment.NewLine + "    about to fail");
        (await _engine.ImageExistsAsync(tag.ToString())).ShouldBeFalse();
    }

    [Test]
    public async Task Should_Throw_When_Dockerfile_Has_An_Unknown_Instruction()
    {
        // Given
        var context = Context(new Dictionary<string, string> { ["Dockerfile.bad"] = $"FROM {_busybox}\nFROBNICATE now\n" });

        // When
        var error = await Should.ThrowAsync<ImageBuildFailedException>(() =>
            _engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile.bad", [])));

        // Then
        error.Error.ShouldContain("unknown instruction: FROBNICATE", Case.Insensitive);
    }

    [Test]
    public async Task Should_Leave_Out_Dockerignored_Files_When_Building()
    {
        // Given
        var context = Context(new Dictionary<string, string>
        {
            ["Dockerfile.ctx"] = $"FROM {_busybox}\nCOPY . /ctx\n",
            [".dockerignore"] = "# secrets stay home\nsecret.txt\n*.log\n!keep.log\nbuild/**\n",
            ["secret.txt"] = "password",
            ["debug.log"] = "noise",
            ["keep.log"] = "wanted",
            ["build/out/app.dll"] = "binary",
            ["src/app.cs"] = "code",
        });
        var tag = new ImageRef(null, "pipeline-test-ctx", TestEnvironment.UniqueName("b"));
        _images.Add(tag);
        await _engine.BuildImageAsync(new ImageBuildRequest(context, "Dockerfile.ctx", [tag], BusyboxImage.TestLabels));
        var container = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-ctx"),
            Image = tag.ToString(),
            Command = ["sh", "-c", "cd /ctx && find . -type f | sort"],
        });

        // When
        await _engine.StartContainerAsync(container);
        await _engine.WaitContainerAsync(container);

        // Then
        (await Logs(container)).ShouldBe(["./.dockerignore", "./Dockerfile", "./Dockerfile.ctx", "./busybox", "./keep.log", "./src/app.cs"]);
    }

    // ---------------------------------------------------------------- PushImageAsync / PullImageAsync

    [Test]
    public async Task Should_Return_Registry_Digest_When_Pushed_And_Pull_It_Back()
    {
        // Given
        var pushed = new ImageRef(TestEnvironment.ImageRegistry, $"pipeline-test/{TestEnvironment.UniqueName("push")}", "1.0.0");
        await _engine.TagImageAsync(_busybox.ToString(), pushed);
        _images.Add(pushed);
        var lines = new List<string>();

        // When
        var digest = await _engine.PushImageAsync(pushed, progress: new SyncProgress(lines));

        // Then
        digest.ShouldMatch("^sha256:[0-9a-f]{64}$");
        (await RegistryDigest(pushed)).ShouldBe(digest);
        lines.ShouldContain(l => l.StartsWith($"1.0.0: digest: {digest} size: "));

        // And when the local copy is gone, a pull brings it back
        await BusyboxImage.RemoveImageAsync(pushed);
        (await _engine.ImageExistsAsync(pushed.ToString())).ShouldBeFalse();
        await _engine.PullImageAsync(pushed);
        (await _engine.ImageExistsAsync(pushed.ToString())).ShouldBeTrue();
    }

    [Test]
    public async Task Should_Throw_Naming_Image_When_Pushing_An_Image_That_Does_Not_Exist_Locally()
    {
        // Given
        var missing = new ImageRef(TestEnvironment.ImageRegistry, $"pipeline-test/{TestEnvironment.UniqueName("missing")}", "1.0.0");

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _engine.PushImageAsync(missing));

        // Then
        error.Message.ShouldStartWith($"Pushing image {missing} to {TestEnvironment.ImageRegistry}");
        error.Message.ShouldContain("does not exist", Case.Insensitive);
    }

    [Test]
    public async Task Should_Throw_Without_Credentials_In_Message_When_Registry_Is_Unreachable()
    {
        // Given: a registry port where nothing listens
        var port = TestEnvironment.FreePort();
        var image = new ImageRef($"127.0.0.1:{port}", $"pipeline-test/{TestEnvironment.UniqueName("nowhere")}", "1.0.0");
        await _engine.TagImageAsync(_busybox.ToString(), image);
        _images.Add(image);
        var credentials = new RegistryCredentials("deployer", "s3cret-" + Guid.NewGuid().ToString("N"));

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _engine.PushImageAsync(image, credentials));

        // Then
        error.Message.ShouldStartWith($"Pushing image {image} to 127.0.0.1:{port}");
        error.Message.ShouldContain("connection refused", Case.Insensitive);
        error.Message.ShouldNotContain(credentials.Password);
        (error.ResponseBody ?? "").ShouldNotContain(credentials.Password);
    }

    [Test]
    public async Task Should_Throw_When_Pulling_A_Tag_The_Registry_Does_Not_Have()
    {
        // Given
        var missing = new ImageRef(TestEnvironment.ImageRegistry, $"pipeline-test/{TestEnvironment.UniqueName("absent")}", "9.9.9");

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _engine.PullImageAsync(missing));

        // Then
        error.Message.ShouldStartWith($"Pulling image {missing} from {TestEnvironment.ImageRegistry}");
        error.Message.ShouldContain("not found", Case.Insensitive);
    }

    // ---------------------------------------------------------------- ImportImageAsync

    [Test]
    public async Task Should_Run_An_Imported_Root_Filesystem()
    {
        // Given a root filesystem with only busybox
        using var rootfs = new MemoryStream();
        await using (var writer = new TarWriter(rootfs, leaveOpen: true))
        {
            await writer.WriteEntryAsync("/bin/busybox", "bin/busybox");
        }

        rootfs.Position = 0;
        var image = new ImageRef(null, "pipeline-test-imported", TestEnvironment.UniqueName("i"));
        _images.Add(image);

        // When
        await _engine.ImportImageAsync(rootfs, image, ["CMD [\"/bin/busybox\", \"echo\", \"imported\"]", "LABEL pipeline.test=true"]);

        // Then
        var container = await Create(new ContainerSpec { Name = TestEnvironment.UniqueName("pipeline-test-import"), Image = image.ToString() });
        await _engine.StartContainerAsync(container);
        (await _engine.WaitContainerAsync(container)).ShouldBe(0);
        (await Logs(container)).ShouldBe(["imported"]);
    }

    // ---------------------------------------------------------------- containers

    [Test]
    public async Task Should_Create_Start_Exec_Copy_Stop_And_Remove_A_Container()
    {
        // Given
        var name = TestEnvironment.UniqueName("pipeline-test-life");
        var labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.color"] = "blue" };

        // When created and started
        var id = await Create(new ContainerSpec
        {
            Name = name,
            Image = _busybox.ToString(),
            Command = ["sleep", "600"],
            Environment = new Dictionary<string, string> { ["GREETING"] = "hi there" },
            Labels = labels,
        });
        (await _engine.InspectContainerAsync(name))!.State.ShouldBe("created");
        await _engine.StartContainerAsync(id);

        // Then it runs with its name, image and labels
        var running = (await _engine.InspectContainerAsync(name))!;
        running.Id.ShouldBe(id);
        running.Name.ShouldBe(name);
        running.Image.ShouldBe(_busybox.ToString());
        running.IsRunning.ShouldBeTrue();
        running.Labels.ShouldContainKeyAndValue("pipeline.color", "blue");
        running.NetworkAddresses.ShouldContainKey("bridge");

        // And exec keeps stdout, stderr and the exit code apart
        var exec = await _engine.ExecAsync(id, ["sh", "-c", "echo \"$GREETING\"; echo oops >&2; exit 4"]);
        exec.ShouldBe(new ExecResult(4, "hi there\n", "oops\n"));

        // And files go in and come out through archives, also into folders that do not exist yet
        var content = "server { listen 80; }\n"u8.ToArray();
        await _engine.PutFileAsync(id, "/etc/app.conf", content);
        (await _engine.GetFileAsync(id, "/etc/app.conf")).ShouldBe(content);
        await _engine.PutFileAsync(id, "/etc/app.conf", "replaced"u8.ToArray());
        (await _engine.GetFileAsync(id, "/etc/app.conf")).ShouldBe("replaced"u8.ToArray());
        await _engine.PutFileAsync(id, "/srv/new/dir/file.txt", content);
        (await _engine.ExecAsync(id, ["cat", "/srv/new/dir/file.txt"])).Stdout.ShouldBe("server { listen 80; }\n");
        var large = new byte[8 * 1024 * 1024]; // the engine refuses a missing folder before it read all of this upload
        Random.Shared.NextBytes(large);
        await _engine.PutFileAsync(id, "/srv/large/dir/file.bin", large);
        (await _engine.GetFileAsync(id, "/srv/large/dir/file.bin")).ShouldBe(large);
        (await _engine.GetFileAsync(id, "/no/such/file")).ShouldBeNull();

        // When stopped (twice) and removed (twice)
        await _engine.StopContainerAsync(id, TimeSpan.FromSeconds(1));
        (await _engine.InspectContainerAsync(id))!.State.ShouldBe("exited");
        await _engine.StopContainerAsync(id, TimeSpan.FromSeconds(1));
        await _engine.RemoveContainerAsync(id);
        await _engine.RemoveContainerAsync(id);

        // Then it is gone
        (await _engine.InspectContainerAsync(id)).ShouldBeNull();
        await _engine.StopContainerAsync(id, TimeSpan.FromSeconds(1));
    }

    [Test]
    public async Task Should_Publish_Ports_On_The_Given_Host_Address()
    {
        // Given
        var port = TestEnvironment.FreePort();
        var id = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-port"),
            Image = _busybox.ToString(),
            Command = ["sh", "-c", "mkdir /www && echo published > /www/index.html && exec httpd -f -p 8080 -h /www"],
            Ports = [new PortBinding("127.0.0.1", port, 8080)],
            Labels = BusyboxImage.TestLabels,
        });

        // When
        await _engine.StartContainerAsync(id);

        // Then
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var body = await Poll(async () =>
        {
            try
            {
                return await http.GetStringAsync($"http://127.0.0.1:{port}/");
            }
            catch (HttpRequestException)
            {
                return null;
            }
        });
        body.ShouldBe("published\n");
    }

    [Test]
    public async Task Should_Return_Exit_Code_When_Waiting()
    {
        // Given
        var id = await Create(new ContainerSpec { Name = TestEnvironment.UniqueName("pipeline-test-wait"), Image = _busybox.ToString(), Command = ["sh", "-c", "exit 7"] });

        // When
        await _engine.StartContainerAsync(id);

        // Then
        (await _engine.WaitContainerAsync(id)).ShouldBe(7);
    }

    [Test]
    public async Task Should_Stream_Stdout_And_Stderr_Lines_Until_The_Container_Exits()
    {
        // Given
        var id = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-logs"),
            Image = _busybox.ToString(),
            Command = ["sh", "-c", "echo one; echo two >&2; sleep 0.3; printf 'three\\nfour'"],
        });
        await _engine.StartContainerAsync(id);
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        // When
        await _engine.StreamLogsAsync(id, lines.Add, cts.Token);

        // Then
        lines.ShouldBe(["one", "two", "three", "four"], ignoreOrder: true); // stdout and stderr are separate pipes
        lines.IndexOf("three").ShouldBeGreaterThan(lines.IndexOf("one"));
        lines.IndexOf("four").ShouldBeGreaterThan(lines.IndexOf("three"));
    }

    [Test]
    public async Task Should_List_Running_And_Stopped_Containers_Carrying_All_Labels()
    {
        // Given
        var deployId = TestEnvironment.UniqueName("deploy");
        var blue = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-blue"), Image = _busybox.ToString(), Command = ["sleep", "600"],
            Labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.deploy-id"] = deployId, ["pipeline.color"] = "blue" },
        });
        var green = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-green"), Image = _busybox.ToString(), Command = ["sleep", "600"],
            Labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.deploy-id"] = deployId, ["pipeline.color"] = "green" },
        });
        await _engine.StartContainerAsync(blue);

        // When
        var both = await _engine.ListContainersAsync(new Dictionary<string, string> { ["pipeline.deploy-id"] = deployId });
        var onlyGreen = await _engine.ListContainersAsync(new Dictionary<string, string> { ["pipeline.deploy-id"] = deployId, ["pipeline.color"] = "green" });

        // Then
        both.Select(c => c.Id).ShouldBe([blue, green], ignoreOrder: true);
        both.Single(c => c.Id == blue).IsRunning.ShouldBeTrue();
        both.Single(c => c.Id == green).State.ShouldBe("created");
        onlyGreen.Single().Id.ShouldBe(green);
        onlyGreen.Single().Labels.ShouldContainKeyAndValue("pipeline.color", "green");
        onlyGreen.Single().Image.ShouldBe(_busybox.ToString());
    }

    // ---------------------------------------------------------------- errors

    [Test]
    public async Task Should_Return_Null_When_Inspecting_A_Missing_Container()
    {
        // When
        var info = await _engine.InspectContainerAsync(TestEnvironment.UniqueName("pipeline-test-absent"));

        // Then
        info.ShouldBeNull();
    }

    [Test]
    public async Task Should_Keep_Status_And_Body_When_Creating_From_A_Missing_Image()
    {
        // Given
        var name = TestEnvironment.UniqueName("pipeline-test-noimage");
        var image = $"pipeline-test-no-such-image:{TestEnvironment.UniqueName("x")}";

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() =>
            _engine.CreateContainerAsync(new ContainerSpec { Name = name, Image = image }));

        // Then
        error.StatusCode.ShouldBe(404);
        error.ResponseBody.ShouldNotBeNull().ShouldContain($"No such image: {image}");
        error.Message.ShouldBe($"Creating container {name} from image {image} on {TestEnvironment.Docker} failed: the engine answered 404 NotFound: No such image: {image}");
    }

    [Test]
    public async Task Should_Keep_Status_When_Starting_A_Missing_Container()
    {
        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _engine.StartContainerAsync(TestEnvironment.UniqueName("pipeline-test-absent")));

        // Then
        error.StatusCode.ShouldBe(404);
        error.Message.ShouldContain("No such container");
    }

    [Test]
    public async Task Should_Keep_Status_When_A_Container_Name_Is_Taken()
    {
        // Given
        var name = TestEnvironment.UniqueName("pipeline-test-taken");
        await Create(new ContainerSpec { Name = name, Image = _busybox.ToString() });

        // When
        var error = await Should.ThrowAsync<DockerEngineException>(() => _engine.CreateContainerAsync(new ContainerSpec { Name = name, Image = _busybox.ToString() }));

        // Then
        error.StatusCode.ShouldBe(409);
        error.Message.ShouldContain($"Creating container {name}");
    }

    // ---------------------------------------------------------------- networks

    [Test]
    public async Task Should_Leave_One_Network_When_Separate_Clients_Ensure_The_Same_New_One_At_Once()
    {
        // Given four clients of the engine (as four pipeline runs would be), and a network name nobody has used
        var name = TestEnvironment.UniqueName("pipeline-test-race");
        var labels = TestNetworkLabels(name);
        var clients = Enumerable.Range(0, 4).Select(_ => new DockerEngine(TestEnvironment.Docker)).ToList();
        try
        {
            // When each ensures it three times, all at once
            var ids = await Task.WhenAll(clients.SelectMany(c => Enumerable.Range(0, 3).Select(_ => c.EnsureNetworkAsync(name, labels))));

            // Then one network of that name exists, every call returned it, and no claim is left
            var listed = await _engine.ListNetworksAsync(new Dictionary<string, string> { ["pipeline.service"] = name });
            listed.Select(n => n.Id).ShouldBe([ids[0]], $"{listed.Count} networks named {name}");
            ids.Distinct().ShouldBe([ids[0]]);
            (await _engine.ListVolumesAsync(new Dictionary<string, string>())).ShouldNotContain(v => v.Name == DockerEngine.NetworkClaimOf(name));
        }
        finally
        {
            foreach (var network in await _engine.ListNetworksAsync(new Dictionary<string, string> { ["pipeline.service"] = name }))
            {
                await _engine.RemoveNetworkAsync(network.Id);
            }

            clients.ForEach(c => c.Dispose());
        }
    }

    [Test]
    public async Task Should_Wait_For_The_Network_Another_Run_Claimed_Instead_Of_Creating_A_Second_One()
    {
        // Given another run's claim on a new network's name: it is creating the network
        var name = TestEnvironment.UniqueName("pipeline-test-claimed");
        var claim = await ClaimNetworkAsync(name, "another-run");
        try
        {
            // When this run ensures the network meanwhile
            var ensuring = _engine.EnsureNetworkAsync(name, TestNetworkLabels(name));
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            ensuring.IsCompleted.ShouldBeFalse("it waits while another run holds the claim");

            // And the other run's network appears (the docker CLI, as that run) and its claim is given up
            var created = await new ProcessCommandRunner().RunAsync("docker", ["network", "create", "--label", "pipeline.test=true", "--label", $"pipeline.service={name}", name]);
            created.ExitCode.ShouldBe(0, created.Output);
            await _engine.RemoveVolumeAsync(claim);

            // Then this run settles on that network: one network of the name
            var id = await ensuring.WaitAsync(TimeSpan.FromSeconds(10));
            id.ShouldBe(created.Output.Trim());
            (await _engine.ListNetworksAsync(TestNetworkLabels(name))).Select(n => n.Id).ShouldBe([id]);
        }
        finally
        {
            await _engine.RemoveNetworkAsync(name);
            await _engine.RemoveVolumeAsync(claim);
        }
    }

    [Test]
    public async Task Should_Take_Over_A_Network_Claim_A_Crashed_Run_Left_And_Create_The_Network()
    {
        // Given the claim of a run that crashed while creating the network (the volume, with its id, and no network)
        var name = TestEnvironment.UniqueName("pipeline-test-claimed");
        var claim = await ClaimNetworkAsync(name, "crashed-run");
        using var patient = new DockerEngine(TestEnvironment.Docker) { NetworkClaimPatience = TimeSpan.FromSeconds(1) };
        try
        {
            // When a run ensures the network
            var id = await patient.EnsureNetworkAsync(name, TestNetworkLabels(name));

            // Then it waited the claim out, took it over, created the network and gave the claim up
            (await _engine.ListNetworksAsync(TestNetworkLabels(name))).Select(n => n.Id).ShouldBe([id]);
            (await _engine.ListVolumesAsync(new Dictionary<string, string>())).ShouldNotContain(v => v.Name == claim);
        }
        finally
        {
            await _engine.RemoveNetworkAsync(name);
            await _engine.RemoveVolumeAsync(claim);
        }
    }

    [Test]
    public async Task Should_Remove_Only_The_Network_Claim_The_Named_Deploy_Left()
    {
        // Given the claims two killed deploys left on two new networks' names
        var mine = TestEnvironment.UniqueName("pipeline-test-claimed");
        var theirs = TestEnvironment.UniqueName("pipeline-test-claimed");
        var claims = new[] { await ClaimNetworkAsync(mine, "killed-run", deployId: "deploy-1"), await ClaimNetworkAsync(theirs, "other-run", deployId: "deploy-2") };
        try
        {
            // When deploy-1's claims are removed from both names, and from a name nobody claimed
            await _engine.RemoveNetworkClaimAsync(mine, "deploy-1");
            await _engine.RemoveNetworkClaimAsync(theirs, "deploy-1");
            await _engine.RemoveNetworkClaimAsync(TestEnvironment.UniqueName("pipeline-test-unclaimed"), "deploy-1");

            // Then only deploy-1's claim is gone
            var left = (await _engine.ListVolumesAsync(new Dictionary<string, string> { [Labels.Role] = Roles.NetworkClaim })).Select(v => v.Name).ToList();
            left.ShouldNotContain(claims[0]);
            left.ShouldContain(claims[1]);
        }
        finally
        {
            await _engine.RemoveVolumeAsync(claims[0]);
            await _engine.RemoveVolumeAsync(claims[1]);
        }
    }

    /// <summary>Leaves the claim the run <paramref name="holder"/> (of deploy <paramref name="deployId"/>) holds while it creates the network <paramref name="name"/>; returns the claim's volume.</summary>
    private async Task<string> ClaimNetworkAsync(string name, string holder, string? deployId = null)
    {
        var claim = DockerEngine.NetworkClaimOf(name);
        var labels = new Dictionary<string, string> { [Labels.Role] = Roles.NetworkClaim, [Labels.NetworkClaim] = holder };
        if (deployId is not null)
        {
            labels[Labels.DeployId] = deployId;
        }

        await _engine.CreateVolumeAsync(claim, labels);
        return claim;
    }

    private static Dictionary<string, string> TestNetworkLabels(string name) => new() { ["pipeline.test"] = "true", ["pipeline.service"] = name };

    [Test]
    public async Task Should_Create_Network_Once_List_It_By_Label_And_Remove_It()
    {
        // Given
        var name = TestEnvironment.UniqueName("pipeline-test-net");
        var labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.service"] = name };
        _networks.Add(name);

        // When
        var id = await _engine.EnsureNetworkAsync(name, labels);
        var again = await _engine.EnsureNetworkAsync(name, labels);

        // Then
        again.ShouldBe(id);
        var listed = await _engine.ListNetworksAsync(new Dictionary<string, string> { ["pipeline.service"] = name });
        listed.ShouldBe([new NetworkInfo(id, name, listed.Single().Labels)]);
        listed.Single().Labels.ShouldContainKeyAndValue("pipeline.test", "true");

        // And a container on it gets an address there, reachable from another container on it
        var server = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-srv"), Image = _busybox.ToString(), Network = name,
            Command = ["sh", "-c", "mkdir /www && echo on-network > /www/index.html && exec httpd -f -p 8080 -h /www"],
        });
        await _engine.StartContainerAsync(server);
        var address = (await _engine.InspectContainerAsync(server))!.NetworkAddresses[name];
        address.ShouldNotBeNullOrEmpty();
        var client = await Create(new ContainerSpec { Name = TestEnvironment.UniqueName("pipeline-test-cli"), Image = _busybox.ToString(), Network = name, Command = ["sleep", "600"] });
        await _engine.StartContainerAsync(client);
        var fetched = await Poll(async () =>
        {
            var r = await _engine.ExecAsync(client, ["timeout", "2", "wget", "-q", "-O", "-", $"http://{address}:8080/"]);
            return r.ExitCode == 0 ? r.Stdout : null;
        });
        fetched.ShouldBe("on-network\n");

        // When removed (twice, after its containers are gone)
        await _engine.RemoveContainerAsync(server);
        await _engine.RemoveContainerAsync(client);
        await _engine.RemoveNetworkAsync(name);
        await _engine.RemoveNetworkAsync(name);

        // Then
        (await _engine.ListNetworksAsync(new Dictionary<string, string> { ["pipeline.service"] = name })).ShouldBeEmpty();
    }

    // ---------------------------------------------------------------- volumes

    [Test]
    public async Task Should_Create_Volume_Keep_Data_List_It_By_Label_And_Remove_It()
    {
        // Given
        var name = TestEnvironment.UniqueName("pipeline-test-vol");
        var labels = new Dictionary<string, string> { ["pipeline.test"] = "true", ["pipeline.service"] = name };
        _volumes.Add(name);

        // When created twice
        await _engine.CreateVolumeAsync(name, labels);
        await _engine.CreateVolumeAsync(name, labels);

        // Then it is listed once, by label
        var listed = await _engine.ListVolumesAsync(new Dictionary<string, string> { ["pipeline.service"] = name });
        listed.Single().Name.ShouldBe(name);
        listed.Single().Labels.ShouldBe(labels, ignoreOrder: true);

        // And data written by one container is read by the next
        var writer = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-w"), Image = _busybox.ToString(),
            Command = ["sh", "-c", "echo kept > /data/file"], Volumes = new Dictionary<string, string> { [name] = "/data" },
        });
        await _engine.StartContainerAsync(writer);
        (await _engine.WaitContainerAsync(writer)).ShouldBe(0);
        var reader = await Create(new ContainerSpec
        {
            Name = TestEnvironment.UniqueName("pipeline-test-r"), Image = _busybox.ToString(),
            Command = ["cat", "/data/file"], Volumes = new Dictionary<string, string> { [name] = "/data" },
        });
        await _engine.StartContainerAsync(reader);
        await _engine.WaitContainerAsync(reader);
        (await Logs(reader)).ShouldBe(["kept"]);

        // When removed (twice)
        await _engine.RemoveContainerAsync(writer);
        await _engine.RemoveContainerAsync(reader);
        await _engine.RemoveVolumeAsync(name);
        await _engine.RemoveVolumeAsync(name);

        // Then
        (await _engine.ListVolumesAsync(new Dictionary<string, string> { ["pipeline.service"] = name })).ShouldBeEmpty();
    }

    // ---------------------------------------------------------------- helpers

    private async Task<string> Create(ContainerSpec spec)
    {
        var id = await _engine.CreateContainerAsync(spec.Labels.ContainsKey("pipeline.test")
            ? spec
            : spec with { Labels = new Dictionary<string, string>(spec.Labels) { ["pipeline.test"] = "true" } });
        _containers.Add(id);
        return id;
    }

    private string Context(IReadOnlyDictionary<string, string> files)
    {
        var folder = BusyboxImage.CreateContext(files);
        _folders.Add(folder);
        return folder;
    }

    private async Task<List<string>> Logs(string container)
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _engine.StreamLogsAsync(container, lines.Add, cts.Token);
        return lines;
    }

    private static async Task<string?> RegistryDigest(ImageRef image)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Head, $"http://{image.Registry}/v2/{image.Repository}/manifests/{image.Tag}");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await http.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return response.Headers.GetValues("Docker-Content-Digest").Single();
    }

    private static async Task<T> Poll<T>(Func<Task<T?>> attempt) where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await attempt() is { } result)
            {
                return result;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Gave up waiting after 15 s.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Reports synchronously, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines)
            {
                lines.Add(value);
            }
        }
    }
}
