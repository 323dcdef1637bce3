using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

/// <summary>Reading HAProxy 2.6's Runtime API answers (captured from the proxy image).</summary>
public sealed class HaproxyRuntimeAnswerTests
{
    [Test]
    public void Should_Read_Address_Port_And_Whether_Each_Server_Takes_New_Requests()
    {
        // Given `show servers state`: blue back from maintenance (the config's "disabled" flag 0x04 stays), green in maintenance
        const string answer = """
            1
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
            3 svc_0 1 blue 10.0.0.1 2 4 1 1 0 1 0 0 8 0 0 0 - 8080 - 0 0 - - 0
            3 svc_0 2 green 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 10 - 0 0 - - 0
            4 api_1 1 blue fd00::5 0 5 1 1 1 1 0 0 8 0 0 0 - 80 - 0 0 - - 0
            """;

        // When parsed
        var servers = HaproxyProxy.ParseServersState(answer);

        // Then
        servers["svc_0/blue"].ShouldBe(("10.0.0.1", 8080, true));
        servers["svc_0/green"].ShouldBe(("127.0.0.1", 10, false));
        servers["api_1/blue"].ShouldBe(("fd00::5", 80, false));
    }

    [Test]
    public void Should_Read_Map_Entries()
    {
        HaproxyProxy.ParseMap("0x55d0c357edb0 web_0/blue 1.0\n0x55d0c357ee00 web_0/green 1.1.0+build.7\n")
            .ShouldBe(new Dictionary<string, string> { ["web_0/blue"] = "1.0", ["web_0/green"] = "1.1.0+build.7" });
        HaproxyProxy.ParseMap("").ShouldBeEmpty();
    }

    [Test]
    public void Should_Not_Mistake_An_Error_For_An_Empty_Map()
    {
        // A config without the map (e.g. one written by hand) answers with an error: the runtime cannot be changed
        Should.Throw<ProxyRuntimeMismatchException>(() => HaproxyProxy.ParseMap("Unknown map identifier. Please use #<id> or <file>.\n"));
    }

    [Test]
    public void Should_Count_Current_And_Queued_Sessions_Per_Server_From_Show_Stat()
    {
        const string csv = """
            # pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout
            web_0,blue,1,1,3,5,,100,0,0
            web_0,green,0,0,0,2,,10,0,0
            api_1,blue,0,0,2,2,,10,0,0

            """;

        HaproxyProxy.ParseStat(csv).ShouldBe([("web_0", "blue", 3, 1), ("web_0", "green", 0, 0), ("api_1", "blue", 2, 0)]);
    }

    [Test]
    public void Should_List_Old_Workers_Too_When_Counting_Requests_In_Flight()
    {
        const string showProc = """
            #<PID>          <type>          <reloads>       <uptime>        <version>
            16086           master          1 [failed: 0]   0d00h00m01s     2.6.12-1+deb12u4
            # workers
            16130           worker          0               0d00h00m00s     2.6.12-1+deb12u4
            # old workers
            16089           worker          1               0d00h00m01s     2.6.12-1+deb12u4
            # programs

            """;

        HaproxyProxy.ParseAllWorkers(showProc).ShouldBe(["16130", "16089"], ignoreOrder: true);
    }
}
