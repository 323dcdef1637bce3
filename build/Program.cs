using Microsoft.Extensions.DependencyInjection;
using Pipeline;
using Pipeline.Configuration;
using Pipeline.Frosting;
using Pipeline.Proxy;
using Pipeline.Tasks;

// The repo's own build: `./build.sh` deploys examples/hello through the pipeline on the local engine;
// `./build.sh --target=Test` runs every test. Options below are the C# defaults; the environment and
// --name=value on the command line override them (see README).
return new CakeHost()
    .UseContext<DeploymentContext>()
    .AddAssembly(typeof(Deploy).Assembly)
    .ConfigureServices(services => services.AddSingleton(new DeploymentOptions
    {
        ServiceDirectory = "examples/hello",
        ProxyKind = ProxyKind.Haproxy,
        ProxyPort = 8080,
    }))
    .Run(args);
