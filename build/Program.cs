using Microsoft.Extensions.DependencyInjection;
using Pipeline;
using Pipeline.Configuration;
using Pipeline.Frosting;
using Pipeline.Provisioning;
using Pipeline.Proxy;
using Pipeline.Tasks;

// The repo's own build: `./build.sh` deploys examples/hello through the pipeline on the local engine;
// `./build.sh --target=Test` runs every test. Options below are the C# defaults; the environment and
// --name=value on the command line override them (see README).
var stateDirectory = args.LastOrDefault(a => a.StartsWith("--state-dir=", StringComparison.Ordinal))?["--state-dir=".Length..]
    ?? LocalServicesOptions.DefaultStateDirectory;
return new CakeHost()
    .UseContext<DeploymentContext>()
    .AddAssembly(typeof(Deploy).Assembly)
    .ConfigureServices(services => services.AddSingleton(new DeploymentOptions
    {
        ServiceDirectory = "examples/hello",
        ProxyKind = ProxyKind.Haproxy,
        ProxyPort = 8080,
        // The etcd user ProvisionLocalServices creates; its password file is read only when etcd asks for one.
        EtcdUsername = LocalServicesOptions.EtcdUser,
        EtcdPasswordFile = LocalServicesOptions.EtcdPasswordFileIn(stateDirectory),
    }))
    .Run(args);
