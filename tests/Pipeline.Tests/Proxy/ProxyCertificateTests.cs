using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Pipeline.Proxy;

namespace Pipeline.Tests.Proxy;

public sealed class ProxyCertificateTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("proxy-certificate-").FullName;

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void Should_Load_A_Certificate_And_Its_Key()
    {
        // Given a certificate valid now and its key
        var (cert, key) = Write("good", Now.AddDays(-1), Now.AddDays(30));

        // When loaded
        var loaded = ProxyCertificate.Load(cert, key, new FixedTime(Now));

        // Then it carries both PEMs, and the certificate itself is what a client trusts
        loaded.Subject.ShouldBe("CN=good");
        loaded.CertificatePem.ShouldStartWith("-----BEGIN CERTIFICATE-----");
        loaded.KeyPem.ShouldStartWith("-----BEGIN PRIVATE KEY-----");
        loaded.CaPem.ShouldBe(loaded.CertificatePem);
        loaded.NotAfter.ShouldBe(Now.AddDays(30), TimeSpan.FromSeconds(1));
    }

    [Test]
    public void Should_Refuse_A_Key_That_Does_Not_Belong_To_The_Certificate_Naming_Both_Files()
    {
        var (cert, _) = Write("one", Now.AddDays(-1), Now.AddDays(30));
        var (_, otherKey) = Write("two", Now.AddDays(-1), Now.AddDays(30));

        var ex = Should.Throw<ProxyCertificateException>(() => ProxyCertificate.Load(cert, otherKey, new FixedTime(Now)));

        ex.Message.ShouldStartWith($"The private key {otherKey} does not belong to the TLS certificate {cert} (CN=one)");
    }

    [Test]
    public void Should_Refuse_An_Expired_Certificate_Saying_When_It_Expired()
    {
        var (cert, key) = Write("old", Now.AddDays(-30), Now.AddDays(-1));

        var ex = Should.Throw<ProxyCertificateException>(() => ProxyCertificate.Load(cert, key, new FixedTime(Now)));

        ex.Message.ShouldBe($"The TLS certificate {cert} (CN=old) expired on {Now.AddDays(-1):yyyy-MM-dd HH:mm} UTC; give a current one.");
    }

    [Test]
    public void Should_Refuse_A_Certificate_Not_Valid_Yet()
    {
        var (cert, key) = Write("future", Now.AddDays(1), Now.AddDays(30));

        Should.Throw<ProxyCertificateException>(() => ProxyCertificate.Load(cert, key, new FixedTime(Now)))
            .Message.ShouldBe($"The TLS certificate {cert} (CN=future) is not valid before {Now.AddDays(1):yyyy-MM-dd HH:mm} UTC.");
    }

    [Test]
    public void Should_Name_A_File_That_Cannot_Be_Read()
    {
        var (_, key) = Write("x", Now.AddDays(-1), Now.AddDays(1));
        var missing = Path.Combine(_folder, "missing.pem");

        Should.Throw<ProxyCertificateException>(() => ProxyCertificate.Load(missing, key, new FixedTime(Now)))
            .Message.ShouldStartWith($"The TLS certificate {missing} cannot be read: ");
    }

    [Test]
    public void Should_Name_A_File_That_Holds_No_Certificate()
    {
        var (_, key) = Write("x", Now.AddDays(-1), Now.AddDays(1));
        var text = Path.Combine(_folder, "notes.txt");
        File.WriteAllText(text, "not a certificate\n");

        Should.Throw<ProxyCertificateException>(() => ProxyCertificate.Load(text, key, new FixedTime(Now)))
            .Message.ShouldBe($"The TLS certificate {text} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }

    [Test]
    public void Should_Generate_A_Server_Certificate_Signed_By_Its_Own_CA_For_The_Given_Names()
    {
        // When a certificate is generated for a name and an address
        var generated = ProxyCertificate.CreateSelfSigned(["localhost", "127.0.0.1"], TimeSpan.FromDays(7), new FixedTime(Now));

        // Then its server certificate names both and chains to the CA a client is told to trust
        using var server = X509Certificate2.CreateFromPem(generated.CertificatePem, generated.KeyPem);
        using var ca = X509Certificate2.CreateFromPem(generated.CaPem);
        var names = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        names.EnumerateDnsNames().ShouldBe(["localhost"]);
        names.EnumerateIPAddresses().Select(a => a.ToString()).ShouldBe(["127.0.0.1"]);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = Now.UtcDateTime;
        chain.Build(server).ShouldBeTrue(string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        generated.NotAfter.ShouldBeGreaterThan(Now.AddDays(6));
    }

    private (string Certificate, string Key) Write(string name, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        var certPath = Path.Combine(_folder, $"{name}.crt");
        var keyPath = Path.Combine(_folder, $"{name}.key");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
