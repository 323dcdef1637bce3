using System.Collections.Concurrent;
using System.Net;

namespace Pipeline.IntegrationTests.Deploy;

[NonParallelizable]
public sealed class TwoServicesTests
{
    [Test]
    public async Task Should_Serve_The_Other_Service_Without_Interruption_When_One_Is_Redeployed()
    {
        using var harness = new PipelineHarness("haproxy");

        // Given two services behind one proxy, routed by path prefix
        var shop = TestEnvironment.UniqueName("shop");
        var cart = TestEnvironment.UniqueName("cart");
        var shopDir = harness.CreateService(shop);
        PipelineHarness.Run(harness.OptionsFor(shopDir, "1.0.0", "/shop")).ShouldBe(0);
        PipelineHarness.Run(harness.OptionsFor(harness.CreateService(cart), "1.0.0", "/cart")).ShouldBe(0);

        // When one of them is redeployed while the other is polled through the proxy
        var answers = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var poller = Task.Run(async () =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            for (var i = 0; i < 5000 && !stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var response = await http.GetAsync(new Uri(harness.ProxyUrl, "/cart/"));
                    var body = await response.Content.ReadAsStringAsync();
                    answers.Add(response.StatusCode == HttpStatusCode.OK ? body.Trim() : $"HTTP {(int)response.StatusCode}");
                }
                catch (HttpRequestException e)
                {
                    answers.Add("error: " + e.Message);
                }

                await Task.Delay(10);
            }
        });
        PipelineHarness.Run(harness.OptionsFor(shopDir, "1.1.0", "/shop")).ShouldBe(0);
        await stop.CancelAsync();
        await poller;

        // Then the redeployed service moved to green, and every answer of the other came from its blue 1.0.0
        (await harness.GetThroughProxyAsync("/shop/")).Color.ShouldBe("green");
        answers.Count.ShouldBeGreaterThan(10);
        answers.Distinct().ShouldBe([$"hello from {cart} 1.0.0 (blue)"]);
    }

    [Test]
    public async Task Should_Keep_A_Services_Image_When_Another_Service_Is_Named_Like_Its_Tests()
    {
        using var harness = new PipelineHarness("haproxy");

        // Given a live service named X-tests
        var shop = TestEnvironment.UniqueName("shop");
        var shopTests = shop + "-tests";
        PipelineHarness.Run(harness.OptionsFor(harness.CreateService(shopTests), "1.0.0", "/b")).ShouldBe(0);
        var digest = (await harness.Catalog.GetReleaseAsync(shopTests, "blue")).ShouldNotBeNull().Digest.ShouldNotBeNull();

        // When service X deploys the same version (building and pushing its test image)
        PipelineHarness.Run(harness.OptionsFor(harness.CreateService(shop), "1.0.0", "/a")).ShouldBe(0);

        // Then X-tests's image in the registry is still the one its release runs (X's test image went elsewhere)
        (await ManifestDigestAsync($"{shopTests}", "1.0.0")).ShouldBe(digest);
        (await ManifestDigestAsync($"{shop}/tests", "1.0.0")).ShouldNotBeNull().ShouldNotBe(digest);
    }

    private static async Task<string?> ManifestDigestAsync(string repository, string tag)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var request = new HttpRequestMessage(HttpMethod.Head, $"http://{TestEnvironment.ImageRegistry}/v2/{repository}/manifests/{tag}");
        request.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
        using var response = await http.SendAsync(request);
        return response.IsSuccessStatusCode && response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.First() : null;
    }
}
