using Pipeline.Docker;
using Pipeline.IntegrationTests.Migrations;
using Pipeline.Migrations;
using Pipeline.Provisioning;

namespace Pipeline.IntegrationTests.Provisioning;

/// <summary>The database the build provisions: created once with generated credentials, then left alone; its data outlives the container.</summary>
public sealed class DatabaseServerTests
{
    private PostgresServer _server = null!;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await PostgresServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [Test, Order(1)]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Should_Create_A_Labelled_Database_With_Credentials_Generated_Once_And_Kept_Out_Of_The_Log()
    {
        // Given the server provisioned by the fixture
        var report = _server.Report;
        var options = _server.Options;

        // Then it was created, and the URL is kept in a file only its owner can read
        report.Action.ShouldBe(DatabaseServerAction.Created);
        report.Url.Redacted.ShouldBe($"postgres://app:***@{options.ContainerName}:5432/app");
        report.Url.Password.Length.ShouldBe(32);
        File.ReadAllText(options.Credentials).Trim().ShouldBe(report.Url.Value);
        File.GetUnixFileMode(options.Credentials).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.GetUnixFileMode(Path.GetDirectoryName(options.Credentials)!).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _server.Log.ShouldNotBeEmpty();
        _server.Log.ShouldNotContain(line => line.Contains(report.Url.Password, StringComparison.Ordinal));

        // And the container and its volume carry the database labels; the password file inside is gone
        var container = (await _server.Engine.InspectContainerAsync(options.ContainerName))!;
        container.Labels[Labels.Role].ShouldBe("database");
        container.Labels[DatabaseServer.DatabaseLabel].ShouldBe(options.ContainerName);
        (await _server.Engine.ListVolumesAsync(new Dictionary<string, string> { [Labels.Role] = "database", [DatabaseServer.DatabaseLabel] = options.ContainerName }))
            .ShouldHaveSingleItem().Name.ShouldBe(options.Volume);
        (await _server.Engine.GetFileAsync(container.Id, "/etc/pipeline-database-password")).ShouldBeNull();
    }

    [Test, Order(2)]
    public async Task Should_Leave_A_Running_Server_Alone_And_Give_The_Same_Url()
    {
        // When provisioned again
        var again = await new DatabaseServer(_server.Engine, _ => { }).EnsureAsync(_server.Options);

        // Then nothing was done and the URL is the same
        again.Action.ShouldBe(DatabaseServerAction.Existed);
        again.Url.Value.ShouldBe(_server.Report.Url.Value);
    }

    [Test, Order(3)]
    public async Task Should_Keep_The_Data_When_The_Container_Is_Recreated_On_Its_Volume()
    {
        // Given a table with a row, then the container removed (as if someone ran docker rm -f)
        await _server.SuperuserAsync("app", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
        await _server.Engine.RemoveContainerAsync(_server.Options.ContainerName);

        // When provisioned again
        var report = await new DatabaseServer(_server.Engine, _ => { }).EnsureAsync(_server.Options);

        // Then a new container runs on the same volume with the same credentials, and the row is there
        report.Action.ShouldBe(DatabaseServerAction.Created);
        report.Url.Value.ShouldBe(_server.Report.Url.Value);
        (await _server.SuperuserAsync("app", "SELECT v FROM kept")).ShouldBe("still here");
    }

    [Test, Order(4)]
    public async Task Should_Start_A_Stopped_Server()
    {
        // Given the server stopped
        var container = (await _server.Engine.InspectContainerAsync(_server.Options.ContainerName))!;
        await _server.Engine.StopContainerAsync(container.Id, TimeSpan.FromSeconds(20));
        (await _server.Engine.InspectContainerAsync(container.Id))!.IsRunning.ShouldBeFalse();

        // When provisioned / Then it runs again and accepts the same credentials
        var report = await new DatabaseServer(_server.Engine, _ => { }).EnsureAsync(_server.Options);
        report.Action.ShouldBe(DatabaseServerAction.Started);
        (await _server.SuperuserAsync("app", "SELECT v FROM kept")).ShouldBe("still here");
    }

    [Test, Order(5)]
    public async Task Should_Refuse_A_Volume_Whose_Credentials_Are_Lost_And_Change_Nothing()
    {
        // Given the credentials file moved away
        var options = _server.Options;
        var moved = options.Credentials + ".moved";
        File.Move(options.Credentials, moved);
        try
        {
            // When provisioned
            var error = await Should.ThrowAsync<ProvisioningException>(() => new DatabaseServer(_server.Engine, _ => { }).EnsureAsync(options));

            // Then the message names the volume, the file and both ways out; no new password was written
            error.Message.ShouldBe(
                $"The volume {options.Volume} holds the database of {options.ContainerName}, but its credentials file {options.Credentials} is missing, so its password is unknown. "
                + $"Restore {options.Credentials}, or remove the volume to start afresh (docker rm -f {options.ContainerName}; docker volume rm {options.Volume} — this deletes the data).");
            File.Exists(options.Credentials).ShouldBeFalse();
        }
        finally
        {
            File.Move(moved, options.Credentials);
        }
    }

    [Test, Order(6)]
    public async Task Should_Say_So_When_The_Credentials_Do_Not_Connect()
    {
        // Given a credentials file whose password is not the database's
        var options = _server.Options;
        var good = File.ReadAllText(options.Credentials);
        var url = DatabaseUrl.Parse(good.Trim());
        File.WriteAllText(options.Credentials, DatabaseUrl.Create(url.Host, url.Port, url.User, "wrong-password", url.Database).Value);
        try
        {
            // When provisioned / Then it says which file does not connect, and why, without any password
            var error = await Should.ThrowAsync<ProvisioningException>(() => new DatabaseServer(_server.Engine, _ => { }).EnsureAsync(options));
            error.Message.ShouldStartWith($"{options.ContainerName} runs, but the credentials in {options.Credentials} do not connect: Cannot reach the database postgres://app:***@");
            error.Message.ShouldContain("password authentication failed");
            error.Message.ShouldNotContain("wrong-password");
            error.Message.ShouldNotContain(url.Password);
        }
        finally
        {
            File.WriteAllText(options.Credentials, good);
        }
    }
}
