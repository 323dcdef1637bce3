using Pipeline.Reporting;

namespace Pipeline.Tests.Reporting;

public sealed class RetryCommandTests
{
    [Test]
    public void Should_Repeat_The_Options_Given_With_The_Target_And_The_Version_Pinned()
    {
        var arguments = new Dictionary<string, ICollection<string>>
        {
            ["target"] = ["Deploy"],
            ["service-dir"] = ["examples/my app"],
            ["release-version"] = ["2.0.0"],
            ["notify"] = ["https://u:p@hooks.example.test/T/B/X"],
            ["from-registry"] = [""],
        };

        RetryCommand.Format("./build.sh", "Deploy", "2.0.0", arguments)
            .ShouldBe("./build.sh --target=Deploy --release-version=2.0.0 --from-registry --notify='https://***@hooks.example.test/…' --service-dir='examples/my app'");
        RetryCommand.Format("./build.sh", "Rollback", null, arguments)
            .ShouldStartWith("./build.sh --target=Rollback --from-registry");
    }

    [TestCase("plain-1.0", "plain-1.0")]
    [TestCase("it's", "'it'\\''s'")]
    [TestCase("", "''")]
    public void Should_Quote_Words_For_A_Posix_Shell(string word, string quoted) => RetryCommand.Quote(word).ShouldBe(quoted);
}
