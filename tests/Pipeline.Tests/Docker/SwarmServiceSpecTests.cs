using Pipeline.Docker;

namespace Pipeline.Tests.Docker;

public sealed class SwarmServiceSpecTests
{
    private static SwarmServiceSpec Valid => new() { Name = "hello-blue", Image = "10.231.0.1:5443/hello:1.0", Replicas = 2, Networks = ["pipeline"] };

    [Test]
    public void Should_Accept_A_Replicated_Dnsrr_Service_With_A_Host_Mode_Port()
    {
        // Given
        var spec = Valid with { Ports = [new SwarmPort(8080, 80)], Constraints = ["node.role==worker", "node.hostname != node3"], SpreadOver = ["node.labels.zone"] };

        // When
        var validated = spec.Validate();

        // Then
        validated.ShouldBeSameAs(spec);
        validated.EndpointMode.ShouldBe(SwarmEndpointMode.Dnsrr);
        validated.Update.Order.ShouldBe(SwarmUpdateOrder.StartFirst);
        validated.Rollback.Order.ShouldBe(SwarmUpdateOrder.StartFirst);
    }

    [TestCase("", "Service name '' is not valid: use letters, digits, '-' and '_' (at most 63 characters, starting with a letter or digit).")]
    [TestCase("-blue", "Service name '-blue' is not valid: use letters, digits, '-' and '_' (at most 63 characters, starting with a letter or digit).")]
    [TestCase("hello blue", "Service name 'hello blue' is not valid: use letters, digits, '-' and '_' (at most 63 characters, starting with a letter or digit).")]
    public void Should_Refuse_A_Bad_Name(string name, string message)
    {
        // When
        var error = Should.Throw<ArgumentException>(() => (Valid with { Name = name }).Validate());

        // Then
        error.Message.ShouldBe(message);
    }

    [Test]
    public void Should_Refuse_Negative_Replicas()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => (Valid with { Replicas = -1 }).Validate());

        // Then
        error.Message.ShouldBe("Service hello-blue: replicas = -1; use 0 or more.");
    }

    [Test]
    public void Should_Refuse_A_Constraint_Without_An_Operator()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => (Valid with { Constraints = ["node.role=worker"] }).Validate());

        // Then
        error.Message.ShouldBe("Service hello-blue: placement constraint 'node.role=worker' is not 'attribute==value' or 'attribute!=value' (e.g. node.hostname!=node3, node.role==worker).");
    }

    [Test]
    public void Should_Refuse_An_Ingress_Port_With_Dnsrr()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => (Valid with { Ports = [new SwarmPort(8080, 80, SwarmPublishMode.Ingress)] }).Validate());

        // Then
        error.Message.ShouldBe("Service hello-blue: port 80 is published through the ingress routing mesh, which needs endpoint mode vip; publish it in host mode with dnsrr.");
    }

    [Test]
    public void Should_Refuse_A_Port_Published_Twice()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => (Valid with { Ports = [new SwarmPort(8080, 80), new SwarmPort(9090, 80)] }).Validate());

        // Then
        error.Message.ShouldBe("Service hello-blue: port 80 is published twice.");
    }

    [Test]
    public void Should_Refuse_A_Spread_Preference_That_Is_Not_An_Attribute()
    {
        // When
        var error = Should.Throw<ArgumentException>(() => (Valid with { SpreadOver = ["node.labels.zone==a"] }).Validate());

        // Then
        error.Message.ShouldBe("Service hello-blue: spread preference 'node.labels.zone==a' must name a node attribute (e.g. node.labels.zone).");
    }

    [Test]
    public void Should_Map_Every_Setting_To_The_Engine_Api_And_Back()
    {
        // Given
        var spec = Valid with
        {
            Command = ["sh", "-c"],
            Args = ["httpd -f"],
            Environment = new Dictionary<string, string> { ["A"] = "1", ["B"] = "x=y" },
            Labels = new Dictionary<string, string> { ["pipeline.service"] = "hello" },
            ContainerLabels = new Dictionary<string, string> { ["pipeline.color"] = "blue" },
            RestartPolicy = new SwarmRestartPolicy(SwarmRestartCondition.OnFailure, TimeSpan.FromSeconds(2), 3, TimeSpan.FromSeconds(30)),
            Constraints = ["node.role==worker"],
            SpreadOver = ["node.labels.zone"],
            EndpointMode = SwarmEndpointMode.Vip,
            Update = new SwarmUpdatePolicy(2, SwarmUpdateOrder.StopFirst, SwarmUpdateFailureAction.Rollback, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)),
            Ports = [new SwarmPort(8080, 80, SwarmPublishMode.Ingress)],
            StopGracePeriod = TimeSpan.FromSeconds(3),
        };

        // When
        var docker = DockerEngine.ToDocker(spec);
        var back = DockerEngine.FromDocker(new global::Docker.DotNet.Models.SwarmService { ID = "x", Spec = docker, Version = new global::Docker.DotNet.Models.Version { Index = 7 } });

        // Then
        docker.EndpointSpec!.Mode.ShouldBe("vip");
        docker.TaskTemplate!.RestartPolicy!.Condition.ShouldBe("on-failure");
        docker.UpdateConfig!.Order.ShouldBe("stop-first");
        docker.UpdateConfig.FailureAction.ShouldBe("rollback");
        docker.TaskTemplate.ContainerSpec!.Env.ShouldBe(["A=1", "B=x=y"]);
        back.Version.ShouldBe(7UL);
        back.Spec.Environment.ShouldBe(spec.Environment, ignoreOrder: true);
        back.Spec.Command.ShouldBe(spec.Command);
        back.Spec.Args.ShouldBe(spec.Args);
        back.Spec.RestartPolicy.ShouldBe(spec.RestartPolicy);
        back.Spec.Update.ShouldBe(spec.Update);
        back.Spec.Rollback.ShouldBe(spec.Rollback);
        back.Spec.Ports.ShouldBe(spec.Ports);
        back.Spec.EndpointMode.ShouldBe(SwarmEndpointMode.Vip);
        back.Spec.Constraints.ShouldBe(spec.Constraints);
        back.Spec.SpreadOver.ShouldBe(spec.SpreadOver);
        back.Spec.Networks.ShouldBe(spec.Networks);
        back.Spec.StopGracePeriod.ShouldBe(spec.StopGracePeriod);
        back.Spec.Replicas.ShouldBe(2);
    }
}
