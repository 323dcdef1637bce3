namespace Pipeline.IntegrationTests; public class Smoke { [Test] public void Runs() => Assert.Pass(); }
