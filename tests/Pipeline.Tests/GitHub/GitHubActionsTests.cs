using System.Text;
using Pipeline.GitHub;

namespace Pipeline.Tests.GitHub;

public sealed class GitHubActionsTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateFolder() => _dir = Directory.CreateTempSubdirectory("pipeline-gha-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_dir, recursive: true);

    [TestCase("plain", "plain")]
    [TestCase("50% done\r\nnext: a,b", "50%25 done%0D%0Anext: a,b")]
    public void Should_Escape_Percent_And_Line_Breaks_In_Command_Data(string data, string escaped) =>
        WorkflowCommands.EscapeData(data).ShouldBe(escaped);

    [Test]
    public void Should_Also_Escape_Colons_And_Commas_In_Property_Values() =>
        WorkflowCommands.Format("error", "line 1\nline 2: 100%", [("title", "SwitchProxy: hello, 2.0.0")])
            .ShouldBe("::error title=SwitchProxy%3A hello%2C 2.0.0::line 1%0Aline 2: 100%25");

    [Test]
    public void Should_Write_An_Output_In_The_Multiline_Form_With_A_Delimiter_Not_In_The_Value()
    {
        var text = WorkflowCommands.Output("url", "http://127.0.0.1:8080/\nsecond line");

        var lines = text.Split('\n');
        lines[0].ShouldStartWith("url<<ghadelimiter_");
        var delimiter = lines[0]["url<<".Length..];
        lines[1].ShouldBe("http://127.0.0.1:8080/");
        lines[2].ShouldBe("second line");
        lines[3].ShouldBe(delimiter);
        text.ShouldEndWith(delimiter + "\n");
    }

    [Test]
    public void Should_Be_Absent_Unless_GITHUB_ACTIONS_Is_True()
    {
        GitHubActions.Detect(_ => null, TextWriter.Null).ShouldBeNull();
        GitHubActions.Detect(n => n == "GITHUB_ACTIONS" ? "false" : null, TextWriter.Null).ShouldBeNull();
        GitHubActions.Detect(n => n == "GITHUB_ACTIONS" ? "true" : null, TextWriter.Null).ShouldNotBeNull();
    }

    [Test]
    public void Should_Annotate_At_Most_Ten_Errors_And_Ten_Warnings_And_Keep_The_Rest_For_The_Summary()
    {
        // Given a runner
        var output = new StringWriter();
        var github = Runner(output);

        // When 12 errors and 11 warnings are reported
        for (var i = 1; i <= 12; i++)
        {
            github.Error($"stage {i}", $"error {i}");
        }

        for (var i = 1; i <= 11; i++)
        {
            github.Warning("hello", $"warning {i}");
        }

        // Then 10 of each are annotations, and the rest wait for the summary
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Count(l => l.StartsWith("::error ", StringComparison.Ordinal)).ShouldBe(10);
        lines.Count(l => l.StartsWith("::warning ", StringComparison.Ordinal)).ShouldBe(10);
        github.Overflow.ShouldBe(["error: stage 11: error 11", "error: stage 12: error 12", "warning: hello: warning 11"]);
    }

    [Test]
    public void Should_Mask_Each_Secret_Once_And_Each_Line_Of_A_Multiline_Secret()
    {
        var output = new StringWriter();
        var github = Runner(output);

        github.Mask("s3cret");
        github.Mask("s3cret");
        github.Mask("line1\nline2");
        github.Mask("");

        output.ToString().ShouldBe("::add-mask::s3cret\n::add-mask::line1\n::add-mask::line2\n".Replace("\n", Environment.NewLine));
    }

    [Test]
    public void Should_Close_An_Open_Group_Before_Starting_The_Next()
    {
        var output = new StringWriter();
        var github = Runner(output);

        github.StartGroup("Preflight");
        github.StartGroup("PreDeploymentTests");
        github.EndGroup();
        github.EndGroup();

        output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries)
            .ShouldBe(["::group::Preflight", "::endgroup::", "::group::PreDeploymentTests", "::endgroup::"]);
    }

    [Test]
    public void Should_Append_To_The_Summary_And_Keep_The_File_Under_One_MiB()
    {
        // Given a summary file that already holds almost 1 MiB
        var summary = Path.Combine(_dir, "summary.md");
        File.WriteAllText(summary, new string('x', GitHubActions.MaxSummaryBytes - 2000) + "\n");
        var github = Runner(new StringWriter(), summary);

        // When a summary of ~5 KB is appended
        var markdown = string.Concat(Enumerable.Range(1, 100).Select(i => $"| stage {i} | {new string('y', 40)} |\n"));
        github.AppendSummary(markdown).ShouldBeNull();

        // Then the file stays within 1 MiB and says it was cut
        new FileInfo(summary).Length.ShouldBeLessThanOrEqualTo(GitHubActions.MaxSummaryBytes);
        File.ReadAllText(summary).ShouldContain("_(cut: GitHub keeps at most 1 MiB of summary per step");
        File.ReadAllText(summary).ShouldContain("| stage 1 |");
    }

    [Test]
    public void Should_Say_Why_When_The_Summary_Cannot_Be_Written()
    {
        var github = Runner(new StringWriter(), Path.Combine(_dir, "no-such-folder", "summary.md"));

        github.AppendSummary("# hello").ShouldNotBeNull().ShouldStartWith($"could not write the job summary to {Path.Combine(_dir, "no-such-folder", "summary.md")}: ");
    }

    [Test]
    public void Should_Cut_A_Summary_On_A_Line_Boundary_Within_The_Budget()
    {
        var cut = GitHubActions.Fit("aaaa\nbbbb\ncccc\n", 120);

        cut.ShouldBe("aaaa\nbbbb\ncccc\n");
        var tight = GitHubActions.Fit(string.Concat(Enumerable.Repeat("é", 400)) + "\nnext\n", 200);
        Encoding.UTF8.GetByteCount(tight).ShouldBeLessThanOrEqualTo(200);
    }

    private GitHubActions Runner(TextWriter output, string? summary = null) =>
        GitHubActions.Detect(
            n => n switch
            {
                "GITHUB_ACTIONS" => "true",
                "GITHUB_STEP_SUMMARY" => summary ?? Path.Combine(_dir, "summary.md"),
                "GITHUB_OUTPUT" => Path.Combine(_dir, "output"),
                _ => null,
            },
            output)!;
}
