using System.Reflection;
using Cake.Core;
using Cake.Core.Diagnostics;

namespace Pipeline.Frosting.Internal;

/// <summary>Registers Frosting tasks and lifetimes with Cake's engine.</summary>
internal sealed class TaskRegistrar(
    ICakeEngine engine,
    IFrostingContext context,
    ICakeLog log,
    IEnumerable<IFrostingTask> tasks,
    IFrostingSetup? setup = null,
    IFrostingTeardown? teardown = null,
    IFrostingTaskSetup? taskSetup = null,
    IFrostingTaskTeardown? taskTeardown = null)
{
    public void Register()
    {
        foreach (var task in tasks)
        {
            RegisterTask(task);
        }

        if (setup is not null)
        {
            log.Debug("Registering setup: {0}", setup.GetType().Name);
            engine.RegisterSetupAction(info => setup.Setup(context, info));
        }

        if (teardown is not null)
        {
            log.Debug("Registering teardown: {0}", teardown.GetType().Name);
            engine.RegisterTeardownAction(info => teardown.Teardown(context, info));
        }

        if (taskSetup is not null)
        {
            log.Debug("Registering task setup: {0}", taskSetup.GetType().Name);
            engine.RegisterTaskSetupAction(info => taskSetup.Setup(context, info));
        }

        if (taskTeardown is not null)
        {
            log.Debug("Registering task teardown: {0}", taskTeardown.GetType().Name);
            engine.RegisterTaskTeardownAction(info => taskTeardown.Teardown(context, info));
        }

        ObserveThroughContext();
    }

    /// <summary>
    /// Beyond Cake.Frosting: a context that implements <see cref="IFrostingTaskSetup"/>, <see cref="IFrostingTaskTeardown"/>
    /// or <see cref="IFrostingTeardown"/> is called too, beside the registered lifetimes (through the engine's events, so
    /// both run): a library's context can follow its tasks without asking the program to register a lifetime.
    /// </summary>
    private void ObserveThroughContext()
    {
        if (context is IFrostingTaskSetup taskSetupObserver && !ReferenceEquals(taskSetupObserver, taskSetup))
        {
            engine.BeforeTaskSetup += (_, e) => taskSetupObserver.Setup(context, e.TaskSetupContext);
        }

        if (context is IFrostingTaskTeardown taskTeardownObserver && !ReferenceEquals(taskTeardownObserver, taskTeardown))
        {
            engine.AfterTaskTeardown += (_, e) => taskTeardownObserver.Teardown(context, e.TaskTeardownContext);
        }

        if (context is IFrostingTeardown teardownObserver && !ReferenceEquals(teardownObserver, teardown))
        {
            engine.AfterTeardown += (_, e) => teardownObserver.Teardown(context, e.TeardownContext);
        }
    }

    private void RegisterTask(IFrostingTask task)
    {
        var type = task.GetType();
        var name = TaskTypes.GetTaskName(type);
        var contextType = TaskTypes.GetContextType(type);
        log.Debug("Registering task: {0}", name);

        if (!contextType.IsInstanceOfType(context))
        {
            log.Warning(
                "Task {0} cannot be used since the context ({1}) isn't convertible to {2}.",
                name, context.GetType().FullName, contextType.FullName);
            return;
        }

        var builder = engine.RegisterTask(name);

        var description = type.GetCustomAttribute<TaskDescriptionAttribute>()?.Description;
        if (!string.IsNullOrWhiteSpace(description))
        {
            builder.Description(description);
        }

        if (TaskTypes.Overrides(type, TaskTypes.IsAsync(type) ? "RunAsync" : "Run", contextType))
        {
            builder.Does(task.RunAsync);
        }

        if (TaskTypes.Overrides(type, "ShouldRun", contextType))
        {
            builder.WithCriteria(task.ShouldRun, GetSkippedMessage(task));
        }

        var continueOnError = type.GetCustomAttribute<ContinueOnErrorAttribute>() is not null;
        var hasOnError = TaskTypes.Overrides(type, "OnError", typeof(Exception), contextType)
            || TaskTypes.Overrides(type, "OnErrorAsync", typeof(Exception), contextType);
        if (continueOnError && hasOnError)
        {
            // Cake allows one error handler per task: call OnError, then continue whatever it does.
            Func<Exception, Task> handleThenContinue = async exception =>
            {
                try
                {
                    await task.OnErrorAsync(exception, context).ConfigureAwait(false);
                }
                catch (Exception handlerException)
                {
                    log.Warning("Task {0} continues on error; its OnError threw: {1}", name, handlerException.Message);
                }
            };
            builder.OnError(handleThenContinue);
        }
        else if (continueOnError)
        {
            builder.ContinueOnError();
        }
        else if (hasOnError)
        {
            // Cake's engine awaits the handler: an OnErrorAsync runs to its end before the run goes on (or fails).
            Func<Exception, Task> handle = exception => task.OnErrorAsync(exception, context);
            builder.OnError(handle);
        }

        if (TaskTypes.Overrides(type, "Finally", contextType))
        {
            builder.Finally(() => task.Finally(context));
        }

        foreach (var dependency in type.GetCustomAttributes<IsDependentOnAttribute>())
        {
            builder.IsDependentOn(DependencyName(dependency.Task, name, "dependency"));
        }

        foreach (var dependee in type.GetCustomAttributes<IsDependeeOfAttribute>())
        {
            builder.IsDependeeOf(DependencyName(dependee.Task, name, "reverse dependency"));
        }
    }

    private static string DependencyName(Type dependency, string taskName, string kind)
    {
        if (dependency is null || !typeof(IFrostingTask).IsAssignableFrom(dependency))
        {
            throw new FrostingException(
                $"The {kind} '{dependency?.FullName ?? "null"}' of task '{taskName}' is not a valid task (it does not implement {nameof(IFrostingTask)}).");
        }

        return TaskTypes.GetTaskName(dependency);
    }

    private static string GetSkippedMessage(IFrostingTask task)
    {
        var message = task.SkippedMessage;
        if (!string.IsNullOrEmpty(message))
        {
            return message;
        }

        // A public SkippedMessage declared on a FrostingTask<T> subclass does not implement the interface member
        // unless the class re-lists IFrostingTask; honour it anyway.
        for (var type = task.GetType(); type is not null && type != typeof(object); type = type.BaseType)
        {
            var property = type.GetProperty(
                nameof(IFrostingTask.SkippedMessage),
                BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly);
            if (property is not null && property.PropertyType == typeof(string) && property.GetIndexParameters().Length == 0)
            {
                return property.GetValue(task) as string ?? string.Empty;
            }
        }

        return string.Empty;
    }
}
