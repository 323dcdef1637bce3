using System.Net;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Provisioning.Swarm;

namespace Pipeline.Tests.Provisioning.Swarm;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LocalCertificateAuthorityTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("pipeline-ca-test-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_folder, true);

    private LocalCertificateAuthority Create(out bool created, TimeProvider? time = null) =>
        LocalCertificateAuthority.LoadOrCreate(_folder, "test CA", TimeSpan.FromDays(60), TimeSpan.FromDays(7), time ?? TimeProvider.System, out created);

    [Test]
    public void Should_Create_The_Ca_Once_And_Load_It_After()
    {
        // When
        string first;
        using (var ca = Create(out var created))
        {
            created.ShouldBeTrue();
            first = ca.Certificate.Thumbprint;
        }

        using var again = Create(out var createdAgain);

        // Then
        createdAgain.ShouldBeFalse();
        again.Certificate.Thumbprint.ShouldBe(first);
        again.Certificate.HasPrivateKey.ShouldBeTrue();
        File.GetUnixFileMode(Path.Combine(_folder, "ca-key.pem")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Test]
    public void Should_Issue_A_Server_Certificate_That_Chains_Names_Its_Host_And_Is_For_Servers()
    {
        // Given
        using var ca = Create(out _);
        var cert = Path.Combine(_folder, "server.pem");
        var key = Path.Combine(_folder, "server-key.pem");

        // When
        ca.IssueServer("node1", ["node1"], [IPAddress.Parse("10.231.0.11")], TimeSpan.FromDays(30), cert, key);

        // Then
        ca.Unusable(cert, key, ["node1"], [IPAddress.Parse("10.231.0.11")], TimeSpan.FromDays(7)).ShouldBeNull();
        using var issued = X509Certificate2.CreateFromPemFile(cert, key);
        issued.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value).ShouldBe(["1.3.6.1.5.5.7.3.1"]);
        issued.MatchesHostname("node1").ShouldBeTrue();
        File.GetUnixFileMode(key).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Test]
    public void Should_Say_Why_A_Certificate_Cannot_Be_Kept()
    {
        // Given: a certificate for node1 only, and one from another CA
        using var ca = Create(out _);
        var cert = Path.Combine(_folder, "server.pem");
        var key = Path.Combine(_folder, "server-key.pem");
        ca.IssueServer("node1", ["node1"], [], TimeSpan.FromDays(30), cert, key);
        var otherFolder = Path.Combine(_folder, "other");
        using var other = LocalCertificateAuthority.LoadOrCreate(otherFolder, "other CA", TimeSpan.FromDays(60), TimeSpan.Zero, TimeProvider.System, out _);
        var foreign = Path.Combine(otherFolder, "server.pem");
        var foreignKey = Path.Combine(otherFolder, "server-key.pem");
        other.IssueServer("node1", ["node1"], [], TimeSpan.FromDays(30), foreign, foreignKey);

        // When
        var missingName = ca.Unusable(cert, key, ["node1", "node2"], [IPAddress.Parse("10.231.0.12")], TimeSpan.FromDays(7));
        var expiring = ca.Unusable(cert, key, ["node1"], [], TimeSpan.FromDays(31));
        var wrongCa = ca.Unusable(foreign, foreignKey, ["node1"], [], TimeSpan.FromDays(7));
        var missing = ca.Unusable(Path.Combine(_folder, "none.pem"), key, [], [], TimeSpan.Zero);

        // Then
        missingName.ShouldBe($"{cert} does not name node2, 10.231.0.12");
        expiring.ShouldStartWith($"{cert} expires on ");
        wrongCa.ShouldStartWith($"{foreign} does not chain to {Path.Combine(_folder, "ca.pem")} (");
        missing.ShouldBe($"{Path.Combine(_folder, "none.pem")} or {key} is missing or unreadable");
    }
}
