using Pipeline.Notifications;

namespace Pipeline.Tests.Notifications;

public sealed class WebhookTargetTests
{
    [TestCase("https://user:p4ss@hooks.example.test:8443/services/T0/B0/XyZ?token=abc", "https://***@hooks.example.test:8443/…")]
    [TestCase("http://127.0.0.1:5000/", "http://127.0.0.1:5000/")]
    [TestCase("http://127.0.0.1:5000", "http://127.0.0.1:5000")]
    [TestCase("ftp://u:p@files.example.test/x", "ftp://***@files.example.test/…")]
    [TestCase("not a url with a s3cret", "***")]
    public void Should_Show_Only_Scheme_Host_And_Port(string text, string shown) =>
        WebhookTarget.Redact(text).ShouldBe(shown);

    [TestCase("ftp://files.example.test/x", "the scheme 'ftp' is not http or https")]
    [TestCase("hooks.example.test/x", "not a URL")]
    [TestCase("http://", "not a URL")]
    public void Should_Refuse_What_Is_Not_An_Http_Url(string text, string problem)
    {
        WebhookTarget.TryParse(text, out _, out var why).ShouldBeFalse();
        why.ShouldStartWith(problem);
    }

    [Test]
    public void Should_Name_A_Target_By_A_Hash_And_Send_User_Info_As_Basic_Authentication()
    {
        var target = WebhookTarget.Parse("https://ci:p%40ss@hooks.example.test/deploys");

        target.Id.Length.ShouldBe(12);
        target.Id.ShouldBe(WebhookTarget.Parse("https://ci:p%40ss@hooks.example.test/deploys").Id);
        target.Id.ShouldNotBe(WebhookTarget.Parse("https://ci:other@hooks.example.test/deploys").Id);
        target.RequestUrl.ToString().ShouldBe("https://hooks.example.test/deploys");
        target.Authorization!.Scheme.ShouldBe("Basic");
        System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(target.Authorization.Parameter!)).ShouldBe("ci:p@ss");
        target.ToString().ShouldBe("https://***@hooks.example.test/…");
        target.Secrets.ShouldContain("p%40ss");
        target.Secrets.ShouldContain("p@ss");
        target.Secrets.ShouldContain("/deploys");
    }
}
