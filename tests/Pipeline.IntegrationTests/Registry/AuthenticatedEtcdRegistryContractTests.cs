using System.Net.Http.Json;
using System.Text.Json;
using Pipeline.IntegrationTests.Faults;
using Pipeline.Provisioning;
using Pipeline.Registry;

namespace Pipeline.IntegrationTests.Registry;

/// <summary>
/// The registry contract against a private etcd the provisioning starts on free loopback ports, which turns its
/// authentication on (root and the pipeline's user); auth tokens live 2 s without use, so the contract's waits also
/// make the client authenticate again. Whatever etcd the test environment has, this one always has authentication.
/// </summary>
[TestFixture]
public sealed class AuthenticatedEtcdRegistryContractTests : RemoteServiceRegistryContract
{
    private static readonly TimeSpan TokenTtl = TimeSpan.FromSeconds(2);
    private FaultProcesses _processes = null!;
    private LocalServicesOptions _etcd = null!;

    [OneTimeSetUp]
    public async Task StartAuthenticatedEtcd()
    {
        _processes = new FaultProcesses();
        _etcd = _processes.PrivateEtcd() with { EtcdAuthTokenTtl = TokenTtl };
        await _processes.StartServiceAsync(_etcd, "etcd");
    }

    [OneTimeTearDown]
    public void StopEtcd() => _processes?.Dispose();

    protected override Uri Endpoint => _etcd.Etcd;

    protected override IServiceRegistry CreateRegistry(IReadOnlyList<Uri> endpoints, TimeSpan? timeout = null) =>
        new EtcdRegistry(endpoints, timeout: timeout ?? TimeSpan.FromSeconds(5), credentials: PrivateEtcd.Credentials(_etcd), retry: ContractRetry);

    // etcd rounds a TTL up to its minimum (about 2 s) and checks expiry every 500 ms.
    protected override TimeSpan ExpiryDeadline(TimeSpan ttl) => ttl + TimeSpan.FromSeconds(8);

    [Test]
    public async Task Should_Name_The_Options_When_Etcd_Asks_For_Authentication_And_No_User_Is_Given()
    {
        // Given a client without credentials
        using var anonymous = new EtcdRegistry([_etcd.Etcd]);
        var key = $"pipeline-test/{TestEnvironment.UniqueName("auth")}/k";

        // When
        var get = await Should.ThrowAsync<ServiceRegistryException>(() => anonymous.GetAsync(key));
        var ping = await Should.ThrowAsync<ServiceRegistryException>(() => anonymous.PingAsync());

        // Then
        var url = _etcd.Etcd.ToString().TrimEnd('/');
        get.Message.ShouldBe($"etcd at {url} asks for authentication to get '{key}' (etcdserver: user name is empty): give the pipeline an etcd user with --etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file=PATH).");
        ping.Message.ShouldBe($"etcd at {url} has authentication on: give the pipeline an etcd user with --etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file=PATH).");
    }

    [Test]
    public async Task Should_Refuse_A_Wrong_Password_Without_Showing_It()
    {
        // Given the pipeline's user with a wrong password
        const string wrong = "wrong-password-7c1e";
        using var registry = new EtcdRegistry([_etcd.Etcd], credentials: EtcdCredentials.WithPassword(LocalServicesOptions.EtcdUser, wrong));

        // When
        var error = await Should.ThrowAsync<ServiceRegistryException>(() => registry.PingAsync());

        // Then
        error.Message.ShouldBe($"etcd at {_etcd.Etcd.ToString().TrimEnd('/')} refused to authenticate etcd user 'pipeline': etcdserver: authentication failed, invalid user ID or password. Check --etcd-username and PIPELINE_ETCD_PASSWORD (or --etcd-password-file).");
        error.Message.ShouldNotContain(wrong);
    }

    [Test]
    public async Task Should_Authenticate_Again_When_Its_Token_Expired()
    {
        // Given a client that authenticated, and a token taken at the same time
        using var registry = CreateRegistry([_etcd.Etcd]);
        var key = $"pipeline-test/{TestEnvironment.UniqueName("auth")}/k";
        await registry.PutAsync(key, "before");
        using var http = new HttpClient();
        var token = await TokenAsync(http);

        // When neither is used for longer than the token TTL (both tokens are then invalid)
        await Task.Delay(TokenTtl * 3);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_etcd.Etcd, "/v3/kv/range")) { Content = JsonContent.Create(new { key = "YQ==" }) };
        request.Headers.TryAddWithoutValidation("Authorization", token);
        var stale = await (await http.SendAsync(request)).Content.ReadAsStringAsync();

        // Then the old token is refused, yet the client's next call works: it authenticated again
        stale.ShouldContain("invalid auth token");
        (await registry.GetAsync(key)).ShouldBe("before");
        await registry.DeleteAsync(key);
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Should_Keep_The_Password_File_Owner_Only_And_Let_Only_Its_User_In()
    {
        // Given the file the provisioning wrote
        var file = _etcd.EtcdPasswordFile;

        // Then only its owner may read it, and root's password is another one
        File.GetUnixFileMode(file).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.ReadAllText(file).ShouldNotBe(File.ReadAllText(_etcd.EtcdRootPasswordFile));
        using var registry = CreateRegistry([_etcd.Etcd]);
        await Should.NotThrowAsync(() => registry.PingAsync());
    }

    private async Task<string> TokenAsync(HttpClient http)
    {
        var password = File.ReadAllText(_etcd.EtcdPasswordFile).TrimEnd('\n');
        using var answer = await http.PostAsJsonAsync(new Uri(_etcd.Etcd, "/v3/auth/authenticate"), new { name = LocalServicesOptions.EtcdUser, password });
        using var json = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("token").GetString()!;
    }
}
