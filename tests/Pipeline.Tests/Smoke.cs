namespace Pipeline.Tests; public class Smoke { [Test] public void Runs() => Assert.Pass(); }
