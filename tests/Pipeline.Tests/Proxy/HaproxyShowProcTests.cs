using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class HaproxyShowProcTests
{
    [Test]
    public void Should_List_Only_Current_Workers_From_Show_Proc()
    {
        // Given the master CLI's answer (HAProxy 2.6) during a reload, with an old worker still finishing
        const string showProc = """
            #<PID>          <type>          <reloads>       <uptime>        <version>
            16086           master          1 [failed: 0]   0d00h00m01s     2.6.12-1+deb12u4
            # workers
            16130           worker          0               0d00h00m00s     2.6.12-1+deb12u4
            # old workers
            16089           worker          1               0d00h00m01s     2.6.12-1+deb12u4
            # programs

            """;

        // When parsed / Then only the new worker counts
        HaproxyProxy.ParseCurrentWorkers(showProc).ShouldBe(["16130"]);
    }
}
