using Pipeline.Docker;

namespace Pipeline.Tests.Docker;

public sealed class ServicePortsTests
{
    private static ImageInfo Exposing(params int[] ports) => new("sha256:1", [], ports, new Dictionary<string, string>());

    [Test]
    public void Should_Take_The_Given_Port_Else_The_Single_Exposed_One_Else_The_Fallback()
    {
        ServicePorts.Resolve(9000, Exposing(80), "web:1", 8080).ShouldBe(9000);
        ServicePorts.Resolve(null, Exposing(80), "web:1", 8080).ShouldBe(80);
        ServicePorts.Resolve(null, Exposing(), "web:1", 8080).ShouldBe(8080);
    }

    [Test]
    public void Should_Fail_Naming_The_Ports_When_The_Image_Exposes_Several()
    {
        var error = Should.Throw<ServicePortAmbiguousException>(() => ServicePorts.Resolve(null, Exposing(80, 443), "127.0.0.1:5000/web:1", 8080));

        error.Message.ShouldBe("127.0.0.1:5000/web:1 exposes ports 80, 443: say which one the service answers HTTP on with --service-port=PORT (e.g. --service-port=80).");
    }

    [Test]
    public void Should_Read_The_Listening_Ports_From_Proc_Net_Tcp_And_Tell_Loopback_Only_Ones()
    {
        const string Proc = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
               2: 0B00007F:9B1B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
               3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
              sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
            """;

        ServicePorts.ParseListening(Proc).ShouldBe([new ListeningPort(80, false), new ListeningPort(443, false), new ListeningPort(8080, true), new ListeningPort(39707, true)]);
    }
}
