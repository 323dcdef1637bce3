using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Pipeline.Frosting.Internal;

/// <summary>What one <see cref="CakeHost.Run"/> hands to the command: the services and the console to write to.</summary>
internal sealed record HostRun(IServiceCollection Services, IAnsiConsole Console);
