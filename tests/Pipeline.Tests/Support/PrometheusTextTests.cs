using Pipeline.Testing.Support;

namespace Pipeline.Tests.Support;

public sealed class PrometheusTextTests
{
    [Test]
    public void Should_Read_Names_Labels_And_Values_And_Skip_Comments()
    {
        var samples = PrometheusText.Parse(
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{route=\"web_0\",code=\"2xx\"} 25\n\nup 1 1700000000000\r\nesc{v=\"a\\\"b\\\\c\\nd\"} 1.5e3\n");

        samples.Count.ShouldBe(3);
        samples[0].ShouldSatisfyAllConditions(
            s => s.Name.ShouldBe("x_total"),
            s => s.Labels.ShouldBe(new Dictionary<string, string> { ["route"] = "web_0", ["code"] = "2xx" }),
            s => s.Value.ShouldBe(25));
        samples[1].Labels.ShouldBeEmpty();
        samples[1].Value.ShouldBe(1);
        samples[2].Labels["v"].ShouldBe("a\"b\\c\nd");
        samples[2].Value.ShouldBe(1500);
    }

    [Test]
    public void Should_Sum_The_Matching_Series_Of_A_Metric()
    {
        var samples = PrometheusText.Parse("r{route=\"web_0\",code=\"2xx\"} 3\nr{route=\"web_0\",code=\"4xx\"} 2\nr{route=\"api_1\",code=\"2xx\"} 7\nother{route=\"web_0\"} 100\n");

        PrometheusText.Sum(samples, "r", l => l["route"] == "web_0").ShouldBe(5);
        PrometheusText.Sum(samples, "r", _ => true).ShouldBe(12);
        PrometheusText.Sum(samples, "missing", _ => true).ShouldBe(0);
    }

    [TestCase("x{a=\"1\" 3")]
    [TestCase("x{a=1} 3")]
    [TestCase("x{a=\"1\"}")]
    [TestCase("x 3 4 5")]
    [TestCase("{a=\"1\"} 3")]
    [TestCase("x{a=\"1} 3")]
    [TestCase("x{a=\"1\"")]
    public void Should_Name_A_Line_It_Cannot_Read(string line) =>
        Should.Throw<FormatException>(() => PrometheusText.Parse(line)).Message.ShouldContain(line);
}
