using System.Globalization;
using Pipeline.Docker;

namespace Pipeline.Tasks;

/// <summary>Polls a new release's health path until it answers 2xx, the container exits, or the health timeout passes.</summary>
internal static class HealthCheck
{
    public static async Task WaitUntilHealthyAsync(DeploymentContext context, ContainerInfo container, CancellationToken ct)
    {
        var options = context.Options;
        var url = new Uri($"http://{ReleaseAddress.Of(container, options.Network)}:{options.ServicePort.ToString(CultureInfo.InvariantCulture)}{options.HealthPath}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.HealthTimeout);
        var last = "no answer yet";
        try
        {
            while (true)
            {
                try
                {
                    using var response = await http.GetAsync(url, deadline.Token);
                    if (response.IsSuccessStatusCode)
                    {
                        return;
                    }

                    last = $"HTTP {(int)response.StatusCode}";
                }
                catch (HttpRequestException e)
                {
                    last = e.Message;
                }
                catch (TaskCanceledException) when (!deadline.IsCancellationRequested)
                {
                    last = "no answer within 2 s";
                }

                var now = await context.ProductionEngine.InspectContainerAsync(container.Id, deadline.Token);
                if (now is not { IsRunning: true })
                {
                    throw new ReleaseUnhealthyException($"{container.Name} stopped ({now?.State ?? "removed"}) before {url} answered; last answer: {last}.");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ReleaseUnhealthyException(
                $"{container.Name} did not become healthy within {options.HealthTimeout.TotalSeconds:0.#} s: {url} last answered: {last}. Raise --health-timeout or fix the service's {options.HealthPath}.");
        }
    }
}

/// <summary>A new release never answered its health path.</summary>
public sealed class ReleaseUnhealthyException(string message) : Exception(message);
