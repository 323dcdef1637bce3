using Pipeline.Registry;

namespace Pipeline.Tests.Registry;

public sealed class RegistryRetryTests
{
    [Test]
    public void Should_Double_The_Wait_Up_To_The_Longest_And_Stop_At_The_Time_Limit()
    {
        // Given the default policy (100 ms doubling to 2 s, 5 s in all; each wait spread by a fifth either way)
        var retry = RegistryRetry.Default;

        // When / Then
        retry.DelayBefore(1, TimeSpan.Zero).ShouldNotBeNull().ShouldBeInRange(TimeSpan.FromMilliseconds(80), TimeSpan.FromMilliseconds(120));
        retry.DelayBefore(3, TimeSpan.Zero).ShouldNotBeNull().ShouldBeInRange(TimeSpan.FromMilliseconds(320), TimeSpan.FromMilliseconds(480));
        retry.DelayBefore(10, TimeSpan.Zero).ShouldNotBeNull().ShouldBeInRange(TimeSpan.FromMilliseconds(1600), TimeSpan.FromMilliseconds(2400));
        retry.DelayBefore(100, TimeSpan.Zero).ShouldNotBeNull().ShouldBeLessThanOrEqualTo(TimeSpan.FromMilliseconds(2400));
        retry.DelayBefore(2, TimeSpan.FromSeconds(4.9)).ShouldBeNull();
        RegistryRetry.None.DelayBefore(1, TimeSpan.Zero).ShouldBeNull();
    }
}
