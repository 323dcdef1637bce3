using System.Text;
using Pipeline.Docker;

namespace Pipeline.Tests.Docker;

public sealed class DockerConfigCredentialsTests
{
    private static string Auth(string userAndPassword) => Convert.ToBase64String(Encoding.UTF8.GetBytes(userAndPassword));

    [TestCase("127.0.0.1:5000")]
    [TestCase("http://127.0.0.1:5000")]
    [TestCase("https://127.0.0.1:5000/v1/")]
    public void Should_Find_The_Auths_Entry_Of_The_Registry_Whatever_Form_Its_Key_Has(string key)
    {
        var config = $$"""{ "auths": { "{{key}}": { "auth": "{{Auth("ci:s3:cret")}}" }, "other:5000": { "auth": "{{Auth("x:y")}}" } } }""";

        DockerConfigCredentials.Find("127.0.0.1:5000", config, "config.json").ShouldBe(new RegistryCredentials("ci", "s3:cret"));
    }

    [Test]
    public void Should_Take_Username_And_Password_Fields_And_Find_Nothing_For_Another_Registry()
    {
        const string Config = """{ "auths": { "registry.example.test": { "username": "bob", "password": "pw" } }, "credsStore": "desktop" }""";

        DockerConfigCredentials.Find("registry.example.test", Config, "config.json").ShouldBe(new RegistryCredentials("bob", "pw"));
        DockerConfigCredentials.Find("127.0.0.1:5000", Config, "config.json").ShouldBeNull();
        DockerConfigCredentials.Find("127.0.0.1:5000", "{}", "config.json").ShouldBeNull();
    }

    [Test]
    public void Should_Say_Which_File_Is_Broken()
    {
        Should.Throw<DockerConfigException>(() => DockerConfigCredentials.Find("r:5000", "{ not json", "/home/ci/.docker/config.json"))
            .Message.ShouldStartWith("The docker config /home/ci/.docker/config.json is not JSON");
        Should.Throw<DockerConfigException>(() => DockerConfigCredentials.Find("r:5000", """{ "auths": { "r:5000": { "auth": "%%%" } } }""", "c.json"))
            .Message.ShouldBe("The docker config c.json: the auth of r:5000 is not base64; run docker login r:5000 again.");
    }

    [Test]
    public void Should_Read_DOCKER_CONFIG_Before_The_Home_Folder()
    {
        DockerConfigCredentials.ConfigPath(n => n == "DOCKER_CONFIG" ? "/ci/docker" : n == "HOME" ? "/home/ci" : null).ShouldBe("/ci/docker/config.json");
        DockerConfigCredentials.ConfigPath(n => n == "HOME" ? "/home/ci" : null).ShouldBe("/home/ci/.docker/config.json");
    }
}
