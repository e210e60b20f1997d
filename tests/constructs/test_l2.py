"""The constructs as a CDK user meets them (issue: "constructs as a real CDK L2 library"):
interfaces and importers, Durations, IVpc, ContainerImage, ModelData.from_bucket, LmiSettings,
MetricOptions, and llmdeploy's own rules failing `cdk synth` with the rule's id and fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from llmdeploy.catalog import instances
from llmdeploy.constructs import (
    Autoscaling,
    ComponentRollout,
    ContainerImage,
    Counts,
    DedicatedEndpoint,
    EndpointAttributes,
    IDedicatedEndpoint,
    IInferenceComponent,
    IInferenceEndpoint,
    InferenceComponent,
    InstanceType,
    LlmEndpoint,
    LmiSettings,
    ModelData,
    RollbackAlarms,
)

ENV = cdk.Environment(account="111122223333", region="us-west-2")


def _stack(region: str = "us-west-2") -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Team", env=cdk.Environment(account="111122223333", region=region))


def _component(stack, endpoint, **overrides) -> InferenceComponent:
    props = dict(
        endpoint=endpoint,
        image=ContainerImage.djl_lmi(),
        model_data=ModelData.from_s3_uri("s3://team-models/chat/1/"),
        accelerators=1,
        memory_mib=32_768,
        copies=Counts(1, 1, 2),
        autoscaling=Autoscaling(target=8),
    )
    return InferenceComponent(stack, "Chat", **(props | overrides))


def test_an_app_written_from_the_docs_synthesizes_and_passes_cfn_lint(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Serving", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    pool = LlmEndpoint(
        stack,
        "Pool",
        instance_type="ml.g6.12xlarge",  # a plain string works too
        instances=Counts(min=0, initial=1, max=2),
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    )
    weights = s3.Bucket(stack, "Weights", enforce_ssl=True)
    chat = InferenceComponent(
        stack,
        "Chat",
        endpoint=pool,
        image=ContainerImage.djl_lmi("0.33.0"),
        model_data=ModelData.from_bucket(weights, "llama-3-8b/1/"),
        lmi=LmiSettings(rolling_batch="vllm", max_rolling_batch_size=16, max_model_len=8192),
        accelerators=1,
        memory_mib=32_768,
        copies=Counts(0, 1, 2),
        autoscaling=Autoscaling(target=8, scale_in_cooldown=Duration.minutes(15)),
        rollout=ComponentRollout(wait=Duration.minutes(3)),
        rollback=RollbackAlarms(error_rate_percent=5, p95_latency=Duration.seconds(2)),
        startup_timeout=Duration.minutes(20),
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    )
    theirs = LlmEndpoint.from_endpoint_arn(
        stack, "Theirs", "arn:aws:sagemaker:us-west-2:111122223333:endpoint/platform-pool"
    )
    fn = lambda_.Function(
        stack,
        "Caller",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )
    chat.grant_invoke(fn)
    theirs.grant_invoke(fn)
    chat.metric_model_latency(cw.MetricOptions(period=Duration.minutes(5))).create_alarm(
        stack, "SlowChat", threshold=2_000_000, evaluation_periods=3
    )
    assembly = app.synth()
    template = Path(assembly.get_stack_artifact(stack.artifact_id).template_full_path)
    t = json.loads(template.read_text())
    model = next(r for r in t["Resources"].values() if r["Type"] == "AWS::SageMaker::Model")
    env = model["Properties"]["PrimaryContainer"]["Environment"]
    assert env["OPTION_ROLLING_BATCH"] == "vllm"
    assert env["OPTION_TENSOR_PARALLEL_DEGREE"] == "1"  # defaults to the accelerators
    assert env["OPTION_MODEL_LOADING_TIMEOUT"] == "1200"  # LMI waits as long as SageMaker
    assert env["OPTION_MODEL_ID"] == "/opt/ml/model"
    image = model["Properties"]["PrimaryContainer"]["Image"]
    assert ".dkr.ecr.us-west-2.amazonaws.com/djl-inference:0.33.0" in image
    ic = next(
        r for r in t["Resources"].values() if r["Type"] == "AWS::SageMaker::InferenceComponent"
    )
    policy = ic["Properties"]["DeploymentConfig"]["RollingUpdatePolicy"]
    assert policy["WaitIntervalInSeconds"] == 180
    startup = ic["Properties"]["Specification"]["StartupParameters"]
    assert startup["ModelDataDownloadTimeoutInSeconds"] == 1200
    config = next(
        r for r in t["Resources"].values() if r["Type"] == "AWS::SageMaker::EndpointConfig"
    )
    assert config["Properties"]["VpcConfig"]["Subnets"]  # the VPC's isolated subnets
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [f for f in json.loads(result.stdout or "[]") if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            {"accelerators": 8},
            "[copy-fits-instance] accelerators=8: ml.g6.12xlarge has 4 GPUs; one copy cannot "
            "span instances (fix: use at most 4",
        ),
        (
            {"lmi": LmiSettings(tensor_parallel_degree=2)},
            "[tp-matches-accelerators] lmi.tensor_parallel_degree=2: must equal accelerators "
            "(1): each copy sees only its own 1 GPU (fix: set "
            "lmi.tensor_parallel_degree=1, or accelerators=2)",
        ),
        (
            {"copies": Counts(0, 1, 2), "autoscaling": None},
            "[scale-to-zero-needs-autoscaling] copies.min=0: scale to zero needs autoscaling",
        ),
        (
            {"memory_mib": 10 * 1024 * 1024},
            "[copy-fits-instance] memory_mib=10485760: ml.g6.12xlarge has 196608 MiB of host "
            "memory",
        ),
        (
            {
                "image": ContainerImage.from_uri(
                    "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128"
                )
            },
            "[image-in-region] image=",
        ),
        (
            {"image": ContainerImage.djl_neuronx()},
            "[engine-matches-hardware] image='djl-neuronx': djl-neuronx needs NEURON instances",
        ),
        (
            {"lmi": LmiSettings(quantization="fp8")},
            "[quantization-supported] lmi.quantization='fp8': FP8 compute needs Ada or Hopper",
        ),
    ],
)
def test_misuses_fail_synth_with_the_rules_message(overrides, needle):
    stack = _stack()
    pool = LlmEndpoint(stack, "Pool", instance_type=InstanceType.G6_12XLARGE)
    if overrides.get("lmi") and overrides["lmi"].quantization == "fp8":
        pool = LlmEndpoint(stack, "A100", instance_type=InstanceType.P4D_24XLARGE)
        needle = needle  # p4d: Ampere
    _component(stack, pool, **overrides)
    with pytest.raises(Exception, match="Validation failed") as info:
        stack.node.root.synth()
    assert needle in str(info.value), str(info.value)[:2000]


def test_a_component_on_a_dedicated_endpoint_fails_synth():
    stack = _stack()
    dedicated = DedicatedEndpoint(
        stack, "Big", instance_type=InstanceType.P5EN_48XLARGE, image=ContainerImage.djl_lmi()
    )
    imported = DedicatedEndpoint.from_endpoint_name(stack, "TheirBig", "their-big")
    assert isinstance(dedicated, IDedicatedEndpoint) and not isinstance(
        dedicated, IInferenceEndpoint
    )
    _component(stack, dedicated)  # a type error for a checker; a rule at synth
    InferenceComponent(
        stack,
        "Other",
        endpoint=imported,  # type: ignore[arg-type]
        image=ContainerImage.djl_lmi(),
        accelerators=1,
        memory_mib=1024,
        copies=Counts(1, 1, 1),
    )
    with pytest.raises(Exception, match="Validation failed") as info:
        stack.node.root.synth()
    text = str(info.value)
    assert text.count("[inference-component-on-shared-endpoint]") == 2, text[:2000]
    assert "a dedicated endpoint hosts no inference components" in text


def test_a_broken_rule_fails_the_cdk_cli_too(tmp_path):
    app_py = tmp_path / "app.py"
    app_py.write_text(
        "import aws_cdk as cdk\n"
        "from llmdeploy.constructs import ContainerImage, Counts, InferenceComponent, LlmEndpoint\n"
        "app = cdk.App()\n"
        "env = cdk.Environment(account='111122223333', region='us-west-2')\n"
        "stack = cdk.Stack(app, 'S', env=env)\n"
        "pool = LlmEndpoint(stack, 'Pool', instance_type='ml.g6.12xlarge')\n"
        "InferenceComponent(stack, 'M', endpoint=pool, image=ContainerImage.djl_lmi(),\n"
        "                   accelerators=8, memory_mib=1024, copies=Counts(1, 1, 1))\n"
        "app.synth()\n"
    )
    result = subprocess.run(
        [sys.executable, str(app_py)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "[copy-fits-instance] accelerators=8" in result.stderr


def test_imported_endpoint_with_its_instance_type_is_checked_too():
    stack = _stack()
    theirs = LlmEndpoint.from_endpoint_attributes(
        stack, "Theirs", EndpointAttributes("platform-pool", instance_type="ml.g6.xlarge")
    )
    _component(stack, theirs, accelerators=2)
    with pytest.raises(Exception, match=r"\[copy-fits-instance\] accelerators=2"):
        stack.node.root.synth()


def test_importers_refuse_wildcards_and_read_arns():
    stack = _stack()
    with pytest.raises(ValueError, match="no wildcards"):
        LlmEndpoint.from_endpoint_name(stack, "All", "*")
    with pytest.raises(ValueError, match="the resource is a model, not an endpoint"):
        LlmEndpoint.from_endpoint_arn(stack, "Bad", "arn:aws:sagemaker:us-west-2:1:model/x")
    theirs = LlmEndpoint.from_endpoint_arn(
        stack, "Theirs", "arn:aws:sagemaker:eu-west-1:444455556666:endpoint/pool"
    )
    assert theirs.endpoint_name == "pool"
    assert theirs.endpoint_arn == "arn:aws:sagemaker:eu-west-1:444455556666:endpoint/pool"
    assert cdk.Resource.is_resource(theirs)
    component = InferenceComponent.from_inference_component_arn(
        stack,
        "TheirModel",
        "arn:aws:sagemaker:eu-west-1:444455556666:inference-component/chat",
        theirs,
    )
    assert isinstance(component, IInferenceComponent)
    role = iam.Role(stack, "Caller", assumed_by=iam.AccountRootPrincipal())
    component.grant_invoke(role)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Resource": [
                                "arn:aws:sagemaker:eu-west-1:444455556666:endpoint/pool",
                                "arn:aws:sagemaker:eu-west-1:444455556666:inference-component/chat",
                            ]
                        }
                    )
                ]
            }
        },
    )


def test_l2_shape_resources_metrics_removal_policy():
    stack = _stack()
    pool = LlmEndpoint(stack, "Pool", instance_type=InstanceType.G6_12XLARGE)
    chat = _component(stack, pool)
    assert cdk.Resource.is_resource(pool) and cdk.Resource.is_resource(chat)
    assert pool.node.default_child is pool.cfn_endpoint
    assert chat.node.default_child is chat.cfn_inference_component
    metric = chat.metric(
        "Invocations", cw.MetricOptions(statistic="Average", period=Duration.minutes(5))
    )
    assert metric.statistic == "Average" and metric.period.to_minutes() == 5
    assert chat.metric_model_latency().statistic == "p95"
    pool.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    chat.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    t = Template.from_stack(stack)
    for kind in (
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::InferenceComponent",
        "AWS::SageMaker::Model",
    ):
        for res in t.find_resources(kind).values():
            assert res["DeletionPolicy"] == "Retain", kind


def test_instance_type_constants_are_declared_for_type_checkers():
    declared = InstanceType.__annotations__
    for name in instances.names():
        attr = name[3:].replace(".", "_").replace("-", "_").upper()
        assert attr in declared, attr
        assert getattr(InstanceType, attr) == InstanceType(name)
    assert InstanceType.of("ml.g6e.xlarge") == InstanceType.G6E_XLARGE
    with pytest.raises(ValueError, match="give a SageMaker hosting type"):
        InstanceType.of("g6.12xlarge")


def test_times_are_durations():
    with pytest.raises(TypeError, match="give a Duration"):
        ComponentRollout(wait=120)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="give a Duration"):
        Autoscaling(target=4, scale_in_cooldown=300)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive target"):
        Autoscaling(target=-1)


def test_container_image_needs_a_region_and_model_data_from_bucket_is_scoped():
    app = cdk.App()
    agnostic = cdk.Stack(app, "Agnostic")
    pool = LlmEndpoint.from_endpoint_name(agnostic, "Pool", "pool")
    with pytest.raises(ValueError, match="the stack has no region"):
        _component(agnostic, pool)
    stack = _stack()
    bucket = s3.Bucket(stack, "B")
    for bad in ("", "llama", "llama/*/", "/abs/"):
        with pytest.raises(ValueError, match="key_prefix"):
            ModelData.from_bucket(bucket, bad)
