using System.Globalization;
using Pipeline.Docker;
using Pipeline.Timing;

namespace Pipeline.Tasks;

/// <summary>Polls a new release's health path until it answers 2xx, the container exits, or the health timeout passes.</summary>
internal static class HealthCheck
{
    /// <summary>How long one health request may take.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The pause between health requests.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static async Task WaitUntilHealthyAsync(DeploymentContext context, ContainerInfo container, CancellationToken ct)
    {
        var options = context.Options;
        var current = container;
        var url = $"its health path {options.HealthPath}";
        using var http = new HttpClient { Timeout = RequestTimeout };
        var last = "no answer yet";

        void ThrowIfStopped()
        {
            // A release that exits at start (restart policy: "restarting") has no address to ask.
            if (current is not { IsRunning: true })
            {
                throw new ReleaseUnhealthyException($"{container.Name} stopped ({current?.State ?? "removed"}) before {url} answered; last answer: {last}. Its output: docker logs {container.Name}.");
            }
        }

        async Task<bool> AnswersAsync(CancellationToken deadline)
        {
            ThrowIfStopped();
            url = $"http://{ReleaseAddress.Of(current, options.Network)}:{options.ServicePort.ToString(CultureInfo.InvariantCulture)}{options.HealthPath}";
            try
            {
                using var response = await http.GetAsync(new Uri(url), deadline);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }

                last = $"HTTP {(int)response.StatusCode}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
            {
                last = $"no answer within {RequestTimeout.TotalSeconds:0} s";
            }

            current = await context.ProductionEngine.InspectContainerAsync(container.Id, deadline);
            ThrowIfStopped();
            return false;
        }

        if (!await Poll.UntilAsync(AnswersAsync, options.HealthTimeout, PollInterval, context.Time, ct))
        {
            throw new ReleaseUnhealthyException(
                $"{container.Name} did not become healthy within {options.HealthTimeout.TotalSeconds:0.#} s: {url} last answered: {last}. Raise --health-timeout or fix the service's {options.HealthPath}.");
        }
    }
}

/// <summary>A new release never answered its health path.</summary>
public sealed class ReleaseUnhealthyException(string message) : Exception(message);
