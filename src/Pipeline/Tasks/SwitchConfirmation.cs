using System.Net.Http.Headers;
using Pipeline.Timing;

namespace Pipeline.Tasks;

/// <summary>Polls through the proxy until its answers for this service carry the expected colour header.</summary>
internal static class SwitchConfirmation
{
    public const string ColorHeader = "X-Pipeline-Color";

    /// <summary>How long one request through the proxy may take.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The pause between requests through the proxy.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    public static async Task WaitForColorAsync(DeploymentContext context, string color, CancellationToken ct)
    {
        var url = new Uri(context.Proxy.PublicUrl, context.Options.Route);
        using var http = new HttpClient { Timeout = RequestTimeout };
        var last = "no answer yet";

        async Task<bool> AnswersFromColorAsync(CancellationToken deadline)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.ConnectionClose = true;
                if (context.Options.HostName is { } host)
                {
                    request.Headers.Host = host;
                }

                using var response = await http.SendAsync(request, deadline);
                var served = ColorOf(response.Headers);
                if (response.IsSuccessStatusCode && served == color)
                {
                    return true;
                }

                last = $"HTTP {(int)response.StatusCode} from colour {served ?? "(none)"}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
            {
                last = $"no answer within {RequestTimeout.TotalSeconds:0} s";
            }

            return false;
        }

        if (!await Poll.UntilAsync(AnswersFromColorAsync, context.Options.SwitchTimeout, PollInterval, context.Time, ct))
        {
            throw new SwitchNotConfirmedException(
                $"The proxy at {url} did not answer from {color} within {context.Options.SwitchTimeout.TotalSeconds:0.#} s; last: {last}.");
        }
    }

    private static string? ColorOf(HttpResponseHeaders headers) =>
        headers.TryGetValues(ColorHeader, out var values) ? values.FirstOrDefault() : null;
}

/// <summary>After a proxy switch, answers through the proxy never came from the new colour.</summary>
public sealed class SwitchNotConfirmedException(string message) : Exception(message);
