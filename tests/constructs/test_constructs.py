"""The constructs, used from Python without YAML, checked with aws_cdk.assertions."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from llmdeploy.constructs import (
    Autoscaling,
    ComponentRollout,
    ContainerImage,
    Counts,
    DedicatedEndpoint,
    EndpointRollout,
    InferenceComponent,
    InstanceType,
    LlmEndpoint,
    ModelData,
    RollbackAlarms,
    RolloutStrategy,
    RoutingStrategy,
    ScalingMetric,
)

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128"


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(
        cdk.App(), "Test", env=cdk.Environment(account="111122223333", region="us-east-1")
    )


def _endpoint(stack, **kw) -> LlmEndpoint:
    props = {
        "instance_type": InstanceType.P4D_24XLARGE,
        "instances": Counts(0, 1, 3),
        "endpoint_name": "pool",
    } | kw
    return LlmEndpoint(stack, "Pool", **props)


def _component(stack, endpoint, **kw) -> InferenceComponent:
    props = {
        "image": ContainerImage.from_uri(IMAGE),
        "accelerators": 2,
        "memory_mib": 65536,
        "cpu_cores": 8,
        "copies": Counts(1, 2, 4),
        "inference_component_name": "m1",
        "model_data": ModelData.from_s3("s3://models/m1/3/"),
        "environment": {"OPTION_TENSOR_PARALLEL_DEGREE": "2"},
    } | kw
    return InferenceComponent(stack, "M1", endpoint=endpoint, **props)


# --- LlmEndpoint ---------------------------------------------------------------------------


def test_endpoint_config_for_inference_components(stack):
    _endpoint(stack, routing=RoutingStrategy.RANDOM)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ExecutionRoleArn": Match.any_value(),
            "EnableNetworkIsolation": True,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "InstanceType": "ml.p4d.24xlarge",
                    "InitialInstanceCount": 1,
                    "ManagedInstanceScaling": {
                        "Status": "ENABLED",
                        "MinInstanceCount": 0,
                        "MaxInstanceCount": 3,
                    },
                    "RoutingConfig": {"RoutingStrategy": "RANDOM"},
                }
            ],
        },
    )
    config = t.find_resources("AWS::SageMaker::EndpointConfig")
    (props,) = [r["Properties"] for r in config.values()]
    assert "ModelName" not in props["ProductionVariants"][0]  # ICs bring the models
    assert "EndpointConfigName" not in props  # create-only: let CloudFormation name each one
    assert "KmsKeyId" not in props  # p4d: local NVMe, SageMaker refuses a key
    t.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": "pool"})


def test_ebs_instances_get_the_kms_key_and_a_volume(stack):
    _endpoint(stack, instance_type=InstanceType.INF2_48XLARGE, volume_size_gb=256)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("PoolKey"), "Arn"]},
            "ProductionVariants": [Match.object_like({"VolumeSizeInGB": 256})],
        },
    )


def test_volume_on_local_nvme_is_refused(stack):
    with pytest.raises(ValueError, match="local NVMe"):
        _endpoint(stack, volume_size_gb=100)


def test_key_rotates_and_logs_are_encrypted(stack):
    _endpoint(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    t.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": "/aws/sagemaker/Endpoints/pool",
            "KmsKeyId": Match.any_value(),
            "RetentionInDays": 30,
        },
    )


def test_execution_role_is_least_privilege(stack):
    _endpoint(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {
                    "Statement": [
                        Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})
                    ]
                }
            ),
        },
    )
    text = str(t.to_json())
    assert "ManagedPolicyArns" not in text and "FullAccess" not in text
    for action in ("s3:*", "sagemaker:*", "'*'"):
        assert f"'Action': {action!r}" not in text.replace('"', "'")


def test_vpc_config_and_role_network_rights(stack):
    from aws_cdk import aws_ec2 as ec2

    subnet = ec2.Subnet.from_subnet_id(stack, "S", "subnet-123")
    group = ec2.SecurityGroup.from_security_group_id(stack, "G", "sg-123")
    _endpoint(stack, vpc_subnets=ec2.SubnetSelection(subnets=[subnet]), security_groups=[group])
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"VpcConfig": {"Subnets": ["subnet-123"], "SecurityGroupIds": ["sg-123"]}},
    )
    assert "ec2:CreateNetworkInterface" in str(t.to_json())


@pytest.mark.parametrize(
    ("strategy", "key"),
    [(RolloutStrategy.CANARY, "CanarySize"), (RolloutStrategy.LINEAR, "LinearStepSize")],
)
def test_blue_green_rollout_rolls_back_on_errors(stack, strategy, key):
    _endpoint(
        stack,
        rollout=EndpointRollout(strategy, 20, Duration.seconds(300)),
        instances=Counts(2, 2, 4),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": strategy.value,
                        "WaitIntervalInSeconds": 300,
                        key: {"Type": "CAPACITY_PERCENT", "Value": 20},
                    },
                    "MaximumExecutionTimeoutInSeconds": Match.any_value(),
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": Match.any_value()}]},
            }
        },
    )
    t.has_resource_properties("AWS::CloudWatch::Alarm", {"AlarmName": "pool-5xx-rate"})


def test_a_shared_endpoint_that_can_be_one_instance_has_no_canary(stack):
    with pytest.raises(ValueError, match="a fleet that can be one instance does not exist"):
        _endpoint(stack, rollout=EndpointRollout(RolloutStrategy.CANARY, 10, Duration.seconds(600)))


def test_a_shared_endpoint_rolls_out_all_at_once_by_default(stack):
    _endpoint(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "ALL_AT_ONCE",
                        "WaitIntervalInSeconds": 600,
                    }
                }
            }
        },
    )


def test_grant_invoke_and_metrics(stack):
    endpoint = _endpoint(stack)
    role = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_invoke(role)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": [
                                "sagemaker:InvokeEndpoint",
                                "sagemaker:InvokeEndpointWithResponseStream",
                            ],
                        }
                    )
                ]
            },
            "Roles": [{"Ref": Match.string_like_regexp("Caller")}],
        },
    )
    metric = endpoint.metric_model_latency()
    assert (metric.metric_name, metric.statistic) == ("ModelLatency", "p95")
    assert metric.dimensions == {"EndpointName": "pool", "VariantName": "AllTraffic"}
    assert endpoint.metric_invocation_5xx_errors().metric_name == "Invocation5XXErrors"


def test_escape_hatches(stack):
    endpoint = _endpoint(stack)
    endpoint.cfn_endpoint_config.add_property_override("ProductionVariants.0.EnableSSMAccess", True)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"ProductionVariants": [Match.object_like({"EnableSSMAccess": True})]},
    )


# --- InferenceComponent --------------------------------------------------------------------


def test_inference_component_specification(stack):
    component = _component(stack, _endpoint(stack))
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "EndpointName": "pool",
            "VariantName": "AllTraffic",
            "InferenceComponentName": "m1",
            "Specification": {
                "ModelName": {"Fn::GetAtt": [Match.string_like_regexp("M1Model"), "ModelName"]},
                "ComputeResourceRequirements": {
                    "NumberOfAcceleratorDevicesRequired": 2,
                    "NumberOfCpuCoresRequired": 8,
                    "MinMemoryRequiredInMb": 65536,
                },
                "StartupParameters": {
                    "ModelDataDownloadTimeoutInSeconds": 1800,
                    "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                },
            },
            "RuntimeConfig": {"CopyCount": 2},
            "DeploymentConfig": {
                "RollingUpdatePolicy": Match.object_like(
                    {
                        # One copy of copies.max 4, as a share: within SageMaker's 5-50% at
                        # whatever count autoscaling has set; a rollback moves the same share.
                        "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                        "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                        "WaitIntervalInSeconds": 120,
                    }
                )
            },
        },
    )
    # Weights in an S3 prefix reach /opt/ml/model uncompressed through a Model.
    t.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Image": IMAGE,
                "Environment": {"OPTION_TENSOR_PARALLEL_DEGREE": "2"},
                "ModelDataSource": {
                    "S3DataSource": {
                        "S3Uri": "s3://models/m1/3/",
                        "S3DataType": "S3Prefix",
                        "CompressionType": "None",
                    }
                },
            },
            "EnableNetworkIsolation": True,
        },
    )
    assert component.cfn_model is not None
    # The IC waits for the endpoint in the same stack.
    ic = t.find_resources("AWS::SageMaker::InferenceComponent")
    (res,) = ic.values()
    assert any(d.startswith("PoolEndpoint") for d in res["DependsOn"])


def test_each_model_has_its_own_role_reading_only_its_prefix_and_image(stack):
    endpoint = _endpoint(stack)
    _component(stack, endpoint)
    InferenceComponent(
        stack,
        "M2",
        endpoint=endpoint,
        image=ContainerImage.from_uri(IMAGE),
        accelerators=1,
        memory_mib=1024,
        copies=Counts(1, 1, 1),
        inference_component_name="m2",
        model_data=ModelData.from_s3("s3://models/m2/1/"),
    )
    t = Template.from_stack(stack)
    models = t.find_resources("AWS::SageMaker::Model")
    roles = {json.dumps(m["Properties"]["ExecutionRoleArn"]) for m in models.values()}
    assert len(models) == 2 and len(roles) == 2  # one role each: grants never collide
    policies = [
        r["Properties"]
        for r in t.find_resources("AWS::IAM::Policy").values()
        if "M1ExecutionRole" in r["Properties"]["PolicyName"]
    ]
    (policy,) = policies
    text = str(policy)
    assert "models/m1/3/*" in text and "s3:GetObject" in text and "models/m2" not in text
    assert "repository/djl-inference" in text
    assert "/aws/sagemaker/InferenceComponents/m1" in text


def test_tarball_goes_to_model_data_url_and_hub_models_get_no_data(stack):
    endpoint = _endpoint(stack)
    _component(stack, endpoint, model_data=ModelData.from_s3("s3://models/m1.tar.gz"))
    InferenceComponent(
        stack,
        "Hub",
        endpoint=endpoint,
        image=ContainerImage.from_uri(IMAGE),
        accelerators=1,
        memory_mib=1024,
        copies=Counts(1, 1, 1),
        inference_component_name="hub",
        environment={"HF_MODEL_ID": "org/m"},
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Image": IMAGE,
                "ModelDataUrl": "s3://models/m1.tar.gz",
                "Environment": Match.any_value(),
            }
        },
    )
    t.has_resource_properties(
        "AWS::SageMaker::Model",
        {"PrimaryContainer": {"Image": IMAGE, "Environment": {"HF_MODEL_ID": "org/m"}}},
    )


def test_a_one_copy_model_rolls_half_its_copies_that_is_one(stack):
    # COPY_COUNT 1 would be 100% of one copy, outside SageMaker's 5-50%; 50% is the most it
    # allows, and a batch is at least one copy.
    _component(stack, _endpoint(stack), copies=Counts(1, 1, 1))
    policy = Template.from_stack(stack).find_resources("AWS::SageMaker::InferenceComponent")
    (ic,) = policy.values()
    rolling = ic["Properties"]["DeploymentConfig"]["RollingUpdatePolicy"]
    assert rolling["MaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    assert rolling["RollbackMaximumBatchSize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}


def test_a_batch_over_half_the_copies_is_refused(stack):
    with pytest.raises(ValueError, match=r"50% of the copies per batch, 1 of copies\.max 3"):
        _component(
            stack,
            _endpoint(stack),
            copies=Counts(1, 1, 3),
            rollout=ComponentRollout(batch_copies=2),
        )


def test_at_most_16_environment_variables(stack):
    with pytest.raises(ValueError, match="17 variables"):
        _component(stack, _endpoint(stack), environment={f"V{i}": "1" for i in range(17)})


def test_rollback_alarms_watch_error_rate_and_p95_latency(stack):
    _component(stack, _endpoint(stack), rollback=RollbackAlarms(5, Duration.seconds(2)))
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "DeploymentConfig": {
                "RollingUpdatePolicy": Match.any_value(),
                "AutoRollbackConfiguration": {
                    "Alarms": [{"AlarmName": Match.any_value()}, {"AlarmName": Match.any_value()}]
                },
            }
        },
    )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "m1-p95-latency",
            "Threshold": 2_000_000,  # microseconds
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p95",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": "m1"}],
        },
    )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "m1-5xx-rate",
            "Threshold": 5,
            "Metrics": Match.array_with([Match.object_like({"Expression": Match.any_value()})]),
        },
    )


def test_autoscaling_keeps_warm_models_warm(stack):
    _component(
        stack,
        _endpoint(stack),
        autoscaling=Autoscaling(target=8, metric=ScalingMetric.INVOCATIONS_PER_COPY),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "inference-component/m1",
            "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
            "MinCapacity": 1,
            "MaxCapacity": 4,
            "RoleARN": Match.any_value(),
        },
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 8,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
                    },
                    "ScaleInCooldown": 300,
                    "ScaleOutCooldown": 60,
                }
            ),
        },
    )
    t.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 1)  # no wake policy
    assert "NoCapacityInvocationFailures" not in str(t.to_json())


def test_scale_to_zero_wakes_on_the_first_refused_request(stack):
    _component(stack, _endpoint(stack), copies=Counts(0, 1, 2), autoscaling=Autoscaling(target=4))
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 0, "MaxCapacity": 2}
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "Cooldown": 60,
                "MetricAggregationType": "Maximum",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            },
        },
    )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "m1-wake-from-zero",
            "MetricName": "NoCapacityInvocationFailures",
            "Namespace": "AWS/SageMaker",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": "m1"}],
            "Statistic": "Sum",
            "Threshold": 1,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [{"Ref": Match.string_like_regexp("M1WakeFromZero")}],
        },
    )


def test_component_on_an_imported_endpoint(stack):
    imported = LlmEndpoint.from_endpoint_name(stack, "Theirs", "their-endpoint")
    _component(stack, imported)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::InferenceComponent", {"EndpointName": "their-endpoint"}
    )
    t.resource_count_is("AWS::SageMaker::Endpoint", 0)
    t.resource_count_is("AWS::SageMaker::Model", 1)


def test_component_grant_invoke_and_metrics(stack):
    component = _component(stack, _endpoint(stack))
    role = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    component.grant_invoke(role)
    assert "inference-component/m1" in str(Template.from_stack(stack).to_json())
    assert component.metric_no_capacity_invocation_failures().dimensions == {
        "InferenceComponentName": "m1"
    }


def test_default_names_are_stable_and_valid(stack):
    endpoint = LlmEndpoint(stack, "Pool", instance_type=InstanceType.of("ml.g6e.12xlarge"))
    assert (
        endpoint.endpoint_name
        == LlmEndpoint(
            cdk.Stack(cdk.App(), "Test"), "Pool", instance_type=InstanceType.G6E_12XLARGE
        ).endpoint_name
    )
    assert len(endpoint.endpoint_name) <= 63


# --- DedicatedEndpoint ---------------------------------------------------------------------


def test_dedicated_endpoint(stack):
    DedicatedEndpoint(
        stack,
        "Big",
        instance_type=InstanceType.P5EN_48XLARGE,
        image=ContainerImage.from_uri(IMAGE),
        endpoint_name="big",
        instances=Counts(1, 1, 3),
        model_data=ModelData.from_s3("s3://models/big/5/"),
        environment={"OPTION_TENSOR_PARALLEL_DEGREE": "2"},
        autoscaling=Autoscaling(target=10),
        rollback=RollbackAlarms(2, Duration.seconds(20)),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "ModelName": Match.any_value(),
                        "InstanceType": "ml.p5en.48xlarge",
                        "InitialInstanceCount": 1,
                    }
                )
            ]
        },
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ResourceId": "endpoint/big/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 1,
            "MaxCapacity": 3,
        },
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": (
                            "SageMakerVariantConcurrentRequestsPerModelHighResolution"
                        )
                    }
                }
            )
        },
    )
    t.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": Match.object_like(
                {"AutoRollbackConfiguration": {"Alarms": [Match.any_value(), Match.any_value()]}}
            )
        },
    )


def test_dedicated_endpoint_range_needs_autoscaling(stack):
    with pytest.raises(ValueError, match=r"without autoscaling.*Counts\(1, 1, 1\)"):
        DedicatedEndpoint(
            stack,
            "Big",
            instance_type=InstanceType.P5EN_48XLARGE,
            image=ContainerImage.from_uri(IMAGE),
            instances=Counts(1, 1, 3),
        )


def test_dedicated_endpoint_without_autoscaling_has_no_scaling_target(stack):
    DedicatedEndpoint(
        stack,
        "Big",
        instance_type=InstanceType.P5EN_48XLARGE,
        image=ContainerImage.from_uri(IMAGE),
        instances=Counts(2, 2, 2),
    )
    Template.from_stack(stack).resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


@pytest.mark.parametrize("strategy", [RolloutStrategy.CANARY, RolloutStrategy.LINEAR])
def test_dedicated_canary_or_linear_needs_two_instances(stack, strategy):
    with pytest.raises(ValueError, match=r"fleet that can be one instance.*ALL_AT_ONCE"):
        DedicatedEndpoint(
            stack,
            "Big",
            instance_type=InstanceType.P5EN_48XLARGE,
            image=ContainerImage.from_uri(IMAGE),
            instances=Counts(1, 1, 1),
            rollout=EndpointRollout(strategy, 25, Duration.seconds(300)),
        )
    DedicatedEndpoint(
        stack,
        "Two",
        instance_type=InstanceType.P5EN_48XLARGE,
        image=ContainerImage.from_uri(IMAGE),
        instances=Counts(2, 2, 2),
        rollout=EndpointRollout(strategy, 25, Duration.seconds(300)),
    )


def test_dedicated_endpoint_cannot_scale_to_zero(stack):
    with pytest.raises(ValueError, match=r"instances\.min >= 1"):
        DedicatedEndpoint(
            stack,
            "Big",
            instance_type=InstanceType.P5EN_48XLARGE,
            image=ContainerImage.from_uri(IMAGE),
            instances=Counts(0, 1, 1),
        )


def test_a_users_own_key_encrypts_the_config_but_not_the_log_group(stack):
    from aws_cdk import aws_kms as kms

    key = kms.Key.from_key_arn(
        stack,
        "Theirs",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    _endpoint(stack, instance_type=InstanceType.INF2_48XLARGE, encryption_key=key)
    t = Template.from_stack(stack)
    t.resource_count_is("AWS::KMS::Key", 0)
    (group,) = t.find_resources("AWS::Logs::LogGroup").values()
    assert "KmsKeyId" not in group["Properties"]  # its policy may not let CloudWatch Logs in
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {"KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    )
