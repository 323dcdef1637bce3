using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Pipeline.Notifications;

/// <summary>
/// A URL that deploy notifications are posted to (<c>--notify</c>). Its credentials (user info, and a path or query that
/// may hold a token, as Slack's webhook URLs do) never reach the log: <see cref="ToString"/> shows only the scheme, host
/// and port. User info is sent as HTTP Basic authentication.
/// </summary>
public sealed partial class WebhookTarget
{
    private WebhookTarget(Uri url)
    {
        Url = url;
        Id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url.AbsoluteUri)))[..12];
    }

    /// <summary>The URL as given.</summary>
    public Uri Url { get; }

    /// <summary>12 hex characters of the URL's SHA-256: the outbox names the target by it (the URL itself is never stored).</summary>
    public string Id { get; }

    /// <summary>The URL to send to, without user info.</summary>
    internal Uri RequestUrl => new UriBuilder(Url) { UserName = "", Password = "" }.Uri;

    /// <summary>HTTP Basic authentication from the URL's user info, or null.</summary>
    internal AuthenticationHeaderValue? Authorization =>
        Url.UserInfo.Length == 0
            ? null
            : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(Url.UserInfo))));

    /// <summary>What a log may show of it: <c>https://***@hooks.example.test:8443/…</c>.</summary>
    public override string ToString() => Redact(Url.OriginalString);

    /// <summary>The values to keep out of logs: the whole URL, its user info and password, its path and query.</summary>
    public IEnumerable<string> Secrets
    {
        get
        {
            yield return Url.OriginalString;
            yield return Url.AbsoluteUri;
            if (Url.UserInfo.Length > 0)
            {
                yield return Url.UserInfo;
                if (Url.UserInfo.IndexOf(':') is var colon and >= 0 && colon + 1 < Url.UserInfo.Length)
                {
                    yield return Url.UserInfo[(colon + 1)..];
                    yield return Uri.UnescapeDataString(Url.UserInfo[(colon + 1)..]);
                }
            }

            if (Url.AbsolutePath.Length > 1)
            {
                yield return Url.AbsolutePath;
            }

            if (Url.Query.Length > 1)
            {
                yield return Url.Query;
            }
        }
    }

    /// <summary>Parses an http(s) URL; false with the problem (which never quotes the URL) otherwise.</summary>
    public static bool TryParse(string text, out WebhookTarget? target, out string problem)
    {
        target = null;
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var url) || url.IsFile || url.Host.Length == 0)
        {
            problem = "not a URL; give an absolute http(s) URL";
            return false;
        }

        if (url.Scheme is not ("http" or "https"))
        {
            problem = $"the scheme '{url.Scheme}' is not http or https; notifications are posted over HTTP(S)";
            return false;
        }

        target = new WebhookTarget(url);
        problem = "";
        return true;
    }

    /// <summary>Parses an http(s) URL.</summary>
    /// <exception cref="FormatException">It is not one; the message never quotes it.</exception>
    public static WebhookTarget Parse(string text) =>
        TryParse(text, out var target, out var problem) ? target! : throw new FormatException(problem);

    /// <summary>
    /// What a log may show of any text given as a notification URL, parseable or not: scheme, host and port; user info as
    /// <c>***@</c>; the rest (path, query) as <c>/…</c>.
    /// </summary>
    public static string Redact(string text)
    {
        var match = Shape().Match(text.Trim());
        if (!match.Success)
        {
            return "***";
        }

        var rest = match.Groups["rest"].Value;
        return match.Groups["scheme"].Value
            + (match.Groups["user"].Success ? "***@" : "")
            + match.Groups["host"].Value
            + (rest.Length > 0 && rest != "/" ? "/…" : rest);
    }

    [GeneratedRegex(@"^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*:(//)?)(?<user>[^@/?#]*@)?(?<host>[^/?#@]*)(?<rest>.*)$", RegexOptions.Singleline)]
    private static partial Regex Shape();
}
