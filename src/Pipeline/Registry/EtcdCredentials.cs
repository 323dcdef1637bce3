namespace Pipeline.Registry;

/// <summary>
/// An etcd user and its password, for an etcd with authentication on. The password is given directly or as a file
/// that is read only when etcd asks for authentication (so provisioning may write it after the options were read).
/// <see cref="ToString"/> never shows the password.
/// </summary>
public sealed class EtcdCredentials
{
    private readonly string? _password;

    private EtcdCredentials(string username, string? password, string? passwordFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(username);
        Username = username;
        _password = password;
        PasswordFile = passwordFile;
    }

    /// <summary>The etcd user name.</summary>
    public string Username { get; }

    /// <summary>The file the password is read from, or null when it was given directly.</summary>
    public string? PasswordFile { get; }

    /// <summary>A user with its password.</summary>
    public static EtcdCredentials WithPassword(string username, string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        return new EtcdCredentials(username, password, null);
    }

    /// <summary>A user whose password is the content of <paramref name="passwordFile"/> (a trailing newline is dropped), read when needed.</summary>
    public static EtcdCredentials FromFile(string username, string passwordFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(passwordFile);
        return new EtcdCredentials(username, null, passwordFile);
    }

    /// <summary>The password; from the file when one was given.</summary>
    /// <exception cref="ServiceRegistryException">The file cannot be read; the message names it.</exception>
    internal string ReadPassword()
    {
        if (_password is not null)
        {
            return _password;
        }

        try
        {
            return File.ReadAllText(PasswordFile!).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServiceRegistryException(
                $"Could not read the password of etcd user '{Username}' from {PasswordFile} ({e.Message.TrimEnd('.')}); point --etcd-password-file at a readable file or set PIPELINE_ETCD_PASSWORD.", e);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Username} (password {(PasswordFile is null ? "***" : "from " + PasswordFile)})";
}
