using Cake.Core;
using Cake.Core.Graph;

namespace Pipeline.Frosting.Internal;

/// <summary>
/// Keeps several <c>--target</c>s in the order given. Cake 7 merges them into one dependency graph (shared dependencies
/// run once) but breaks ties alphabetically, so <c>-t Test -t Pack</c> would run Pack first. Making each target depend
/// on the previous one (unless that would be circular) keeps the merged graph and the user's order.
/// </summary>
internal static class TargetOrder
{
    public static void Chain(ICakeEngine engine, IReadOnlyList<string> targets)
    {
        if (targets.Count < 2)
        {
            return;
        }

        var tasks = engine.Tasks.OfType<CakeTask>().ToList();
        for (var i = 1; i < targets.Count; i++)
        {
            var previous = targets[i - 1];
            var current = tasks.FirstOrDefault(t => t.Name.Equals(targets[i], StringComparison.OrdinalIgnoreCase));
            var graph = CakeGraphBuilder.Build(tasks);
            if (current is null || !graph.Exist(previous) || previous.Equals(current.Name, StringComparison.OrdinalIgnoreCase))
            {
                continue; // a missing target is reported by the engine
            }

            var previousNeedsCurrent = graph.Traverse(previous).Contains(current.Name, StringComparer.OrdinalIgnoreCase);
            var alreadyOrdered = graph.Traverse(current.Name).Contains(previous, StringComparer.OrdinalIgnoreCase);
            if (!previousNeedsCurrent && !alreadyOrdered)
            {
                current.Dependencies.Add(new CakeTaskDependency(previous, true));
            }
        }
    }
}
