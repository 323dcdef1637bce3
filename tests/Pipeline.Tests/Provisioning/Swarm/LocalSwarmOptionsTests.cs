using System.Net;
using Pipeline.Provisioning.Swarm;

namespace Pipeline.Tests.Provisioning.Swarm;

public sealed class LocalSwarmOptionsTests
{
    [Test]
    public void Should_Place_The_Bridge_On_Dot_One_And_Node_N_On_Dot_Ten_Plus_N()
    {
        // Given
        var options = new LocalSwarmOptions().Validate();

        // When
        var nodes = options.AllNodes;

        // Then
        options.BridgeAddress.ShouldBe(IPAddress.Parse("10.231.0.1"));
        options.Registry.ShouldBe("10.231.0.1:5443");
        options.ManagerApi.ShouldBe(new Uri("tcp://10.231.0.11:2376"));
        nodes.Select(n => n.Address.ToString()).ShouldBe(["10.231.0.11", "10.231.0.12", "10.231.0.13"]);
        nodes.Select(n => n.HostName).ShouldBe(["swarm-node1", "swarm-node2", "swarm-node3"]);
        nodes.Select(n => n.IsManager).ShouldBe([true, false, false]);
        nodes[1].NamespaceFile.ShouldBe("/run/netns/pswarm-n2");
        nodes[1].HostInterface.ShouldBe("pswarm-n2h");
        nodes[1].Socket.ShouldBe("/var/lib/pipeline-swarm/node2/docker.sock");
    }

    [TestCase(0, "Nodes = 0: a test swarm has 1 to 9 nodes (one manager, the rest workers).")]
    [TestCase(10, "Nodes = 10: a test swarm has 1 to 9 nodes (one manager, the rest workers).")]
    public void Should_Refuse_A_Node_Count_Out_Of_Range(int nodes, string message)
    {
        // When
        var error = Should.Throw<ArgumentException>(() => new LocalSwarmOptions { Nodes = nodes }.Validate());

        // Then
        error.Message.ShouldBe(message);
    }

    [TestCase("10.231.0.0/16")]
    [TestCase("10.231.0.5/24")]
    [TestCase("fd00::/64")]
    [TestCase("nonsense")]
    public void Should_Refuse_A_Subnet_That_Is_Not_An_IPv4_Slash_24(string subnet)
    {
        // When
        var error = Should.Throw<ArgumentException>(() => new LocalSwarmOptions { Subnet = subnet }.Validate());

        // Then
        error.Message.ShouldBe($"Subnet '{subnet}' is not an IPv4 /24 ending in .0 (e.g. 10.231.0.0/24).");
    }

    [Test]
    public void Should_Refuse_An_Overlay_Pool_That_Holds_The_Bridge_Subnet()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => new LocalSwarmOptions { OverlayAddressPool = "10.0.0.0/8" }.Validate());

        // Then
        error.Message.ShouldBe("Overlay address pool '10.0.0.0/8' contains the bridge subnet 10.231.0.0/24; choose pools that do not overlap.");
    }

    [Test]
    public void Should_Refuse_A_Bridge_Name_Longer_Than_An_Interface_Name_Can_Be()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => new LocalSwarmOptions { Bridge = "pipeline-swarm-bridge" }.Validate());

        // Then
        error.Message.ShouldBe("Bridge 'pipeline-swarm-bridge' is not a usable interface name (letters, digits, '-', at most 15 characters).");
    }

    [Test]
    public void Should_Start_Each_Dockerd_With_Nsenter_In_Its_Own_Uts_Namespace_And_Folders()
    {
        // Given
        var options = new LocalSwarmOptions();

        // When
        var worker = LocalSwarm.DaemonArguments(options, options.Node(3));
        var manager = LocalSwarm.DaemonArguments(options, options.Node(1));

        // Then: nsenter into the netns file (not `ip netns exec`, which remounts /sys), then unshare --uts for the host name
        worker.Take(10).ShouldBe(["--net=/run/netns/pswarm-n3", "--", "unshare", "--uts", "--", "/bin/sh", "-c", "hostname \"$1\" && shift && exec \"$@\"", "sh", "swarm-node3"]);
        worker.Skip(10).ShouldBe(
        [
            "dockerd",
            "--config-file", "/var/lib/pipeline-swarm/node3/daemon.json",
            "--data-root", "/var/lib/pipeline-swarm/node3/docker",
            "--exec-root", "/var/lib/pipeline-swarm/node3/run",
            "--pidfile", "/var/lib/pipeline-swarm/node3/dockerd.pid",
            "-H", "unix:///var/lib/pipeline-swarm/node3/docker.sock",
        ]);
        manager.Skip(21).ShouldBe(
        [
            "-H", "tcp://10.231.0.11:2376",
            "--tlsverify",
            "--tlscacert", "/var/lib/pipeline-swarm/certs/ca.pem",
            "--tlscert", "/var/lib/pipeline-swarm/certs/manager.pem",
            "--tlskey", "/var/lib/pipeline-swarm/certs/manager-key.pem",
        ]);
    }
}
