"""The local server (tests/moto_support.py, docs/local-server.md): SageMaker inference
components through the API and CloudFormation, and the other behaviours the deploy engine
relies on, checked through boto3 against the `aws` fixture's moto server."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from moto_support import MOTO_ACCOUNT

REGION = "us-east-1"
ROLE = f"arn:aws:iam::{MOTO_ACCOUNT}:role/sagemaker"
ARN = f"arn:aws:sagemaker:{REGION}:{MOTO_ACCOUNT}"


def _client(service: str, **config: Any):
    return boto3.client(service, region_name=REGION, config=Config(**config))


def _error(call, *args, **kwargs) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return {
        **info.value.response["Error"],
        "HTTPStatusCode": info.value.response["ResponseMetadata"]["HTTPStatusCode"],
    }


def _shared_endpoint(sm, name: str = "pool") -> None:
    """A model and an inference-component endpoint (its variant names no model)."""
    sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img:1"})
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "InstanceType": "ml.g6e.12xlarge",
                "InitialInstanceCount": 1,
                "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


SPEC = {
    "ModelName": "m1",
    "StartupParameters": {
        "ModelDataDownloadTimeoutInSeconds": 900,
        "ContainerStartupHealthCheckTimeoutInSeconds": 900,
    },
    "ComputeResourceRequirements": {
        "NumberOfAcceleratorDevicesRequired": 1,
        "NumberOfCpuCoresRequired": 4,
        "MinMemoryRequiredInMb": 32768,
    },
}


def _create(sm, name: str, copies: int = 2, endpoint: str = "pool", **extra: Any) -> str:
    return sm.create_inference_component(
        InferenceComponentName=name,
        EndpointName=endpoint,
        VariantName="AllTraffic",
        Specification=SPEC,
        RuntimeConfig={"CopyCount": copies},
        **extra,
    )["InferenceComponentArn"]


def _raw_bodies(client, operation: str) -> list[dict[str, Any]]:
    """The JSON bodies the server sends for ``operation``, before botocore parses them
    (parsing drops members the model does not know)."""
    bodies: list[dict[str, Any]] = []

    def capture(response_dict, **_):
        bodies.append(json.loads(response_dict["body"]))

    client.meta.events.register(f"before-parse.sagemaker.{operation}", capture)
    return bodies


def _conforms(value: Any, shape, path: str = "") -> list[str]:
    """How a raw JSON value departs from a botocore shape: unknown or missing members, wrong
    types."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        problems = [f"{path}.{k}: not in the model" for k in value if k not in shape.members]
        problems += [
            f"{path}.{k}: required, missing" for k in shape.required_members if k not in value
        ]
        for key, member in shape.members.items():
            if key in value:
                problems += _conforms(value[key], member, f"{path}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [
            p for i, item in enumerate(value) for p in _conforms(item, shape.member, f"{path}[{i}]")
        ]
    expected = {
        "string": str,
        "integer": int,
        "long": int,
        "float": (int, float),
        "double": (int, float),
        "boolean": bool,
        "timestamp": (int, float),
        "map": dict,
    }.get(kind, object)
    if not isinstance(value, expected) or (kind in ("integer", "long") and isinstance(value, bool)):
        return [f"{path}: {value!r} is not a {kind}"]
    if getattr(shape, "enum", None) and value not in shape.enum:
        return [f"{path}: {value!r} is not one of {shape.enum}"]
    return []


# --- the inference-component API --------------------------------------------------------------


def test_describe_reports_what_was_created_in_the_shape_of_sagemakers_model(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm)
    before = datetime.now(UTC) - timedelta(seconds=5)
    arn = _create(sm, "chat-v1", copies=2)
    assert arn == f"{ARN}:inference-component/chat-v1"

    bodies = _raw_bodies(sm, "DescribeInferenceComponent")
    d = sm.describe_inference_component(InferenceComponentName="chat-v1")
    output = sm.meta.service_model.operation_model("DescribeInferenceComponent").output_shape
    assert _conforms(bodies[0], output) == []
    assert d["InferenceComponentName"] == "chat-v1"
    assert d["InferenceComponentArn"] == arn
    assert (d["EndpointName"], d["EndpointArn"]) == ("pool", f"{ARN}:endpoint/pool")
    assert d["VariantName"] == "AllTraffic"
    assert d["InferenceComponentStatus"] == "InService"
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    assert d["Specification"]["ModelName"] == "m1"
    assert d["Specification"]["StartupParameters"] == SPEC["StartupParameters"]
    assert d["Specification"]["ComputeResourceRequirements"] == {
        "NumberOfAcceleratorDevicesRequired": 1.0,
        "NumberOfCpuCoresRequired": 4.0,
        "MinMemoryRequiredInMb": 32768,
    }
    assert before < d["CreationTime"] <= d["LastModifiedTime"]
    assert "FailureReason" not in d and "LastDeploymentConfig" not in d


def test_a_container_image_is_described_as_the_deployed_image(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm)
    sm.create_inference_component(
        InferenceComponentName="with-image",
        EndpointName="pool",
        Specification={
            "Container": {"Image": "repo/lmi:0.33", "Environment": {"OPTION_DTYPE": "bf16"}},
            "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024},
        },
        RuntimeConfig={"CopyCount": 1},
    )
    d = sm.describe_inference_component(InferenceComponentName="with-image")
    container = d["Specification"]["Container"]
    assert container["DeployedImage"]["SpecifiedImage"] == "repo/lmi:0.33"
    assert container["Environment"] == {"OPTION_DTYPE": "bf16"}
    assert "Image" not in container  # DescribeInferenceComponent has no Image member
    assert d["VariantName"] == "AllTraffic"  # the endpoint's only variant, when none is named


def test_copy_counts_follow_updates_at_once(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm)
    arn = _create(sm, "chat-v1", copies=1)

    out = sm.update_inference_component_runtime_config(
        InferenceComponentName="chat-v1", DesiredRuntimeConfig={"CopyCount": 4}
    )
    assert out["InferenceComponentArn"] == arn
    d = sm.describe_inference_component(InferenceComponentName="chat-v1")
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 4, "CurrentCopyCount": 4}
    assert d["LastModifiedTime"] > d["CreationTime"]

    # Scale to zero is a copy count like any other.
    sm.update_inference_component_runtime_config(
        InferenceComponentName="chat-v1", DesiredRuntimeConfig={"CopyCount": 0}
    )
    assert sm.describe_inference_component(InferenceComponentName="chat-v1")["RuntimeConfig"] == {
        "DesiredCopyCount": 0,
        "CurrentCopyCount": 0,
    }

    # UpdateInferenceComponent: a new specification, copy count and deployment config.
    rollout = {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 60,
        }
    }
    spec = {**SPEC, "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 16384}}
    sm.update_inference_component(
        InferenceComponentName="chat-v1",
        Specification=spec,
        RuntimeConfig={"CopyCount": 2},
        DeploymentConfig=rollout,
    )
    d = sm.describe_inference_component(InferenceComponentName="chat-v1")
    assert d["Specification"]["ComputeResourceRequirements"] == {"MinMemoryRequiredInMb": 16384}
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    assert d["LastDeploymentConfig"] == rollout
    assert d["InferenceComponentStatus"] == "InService"


def test_list_filters_by_endpoint_name_and_status_and_pages(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm, "pool")
    _shared_endpoint(sm, "other")
    for name in ("chat-v1", "chat-v2", "sql-v1"):
        _create(sm, name)
    _create(sm, "chat-elsewhere", endpoint="other")

    def names(**filters) -> set[str]:
        found = sm.list_inference_components(**filters)["InferenceComponents"]
        return {c["InferenceComponentName"] for c in found}

    assert names() == {"chat-v1", "chat-v2", "sql-v1", "chat-elsewhere"}
    assert names(EndpointNameEquals="pool") == {"chat-v1", "chat-v2", "sql-v1"}
    assert names(EndpointNameEquals="pool", NameContains="chat") == {"chat-v1", "chat-v2"}
    assert names(StatusEquals="InService", EndpointNameEquals="other") == {"chat-elsewhere"}
    assert names(StatusEquals="Failed") == set()

    bodies = _raw_bodies(sm, "ListInferenceComponents")
    first = sm.list_inference_components(EndpointNameEquals="pool", MaxResults=2)
    output = sm.meta.service_model.operation_model("ListInferenceComponents").output_shape
    assert _conforms(bodies[0], output) == []
    summary = first["InferenceComponents"][0]
    assert summary["EndpointArn"] == f"{ARN}:endpoint/pool"
    assert summary["VariantName"] == "AllTraffic"
    rest = sm.list_inference_components(
        EndpointNameEquals="pool", MaxResults=2, NextToken=first["NextToken"]
    )
    assert "NextToken" not in rest
    paged = [c["InferenceComponentName"] for c in first["InferenceComponents"]]
    paged += [c["InferenceComponentName"] for c in rest["InferenceComponents"]]
    assert sorted(paged) == ["chat-v1", "chat-v2", "sql-v1"]


def test_delete_removes_the_component(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm)
    _create(sm, "chat-v1")
    sm.delete_inference_component(InferenceComponentName="chat-v1")
    assert sm.list_inference_components()["InferenceComponents"] == []
    error = _error(sm.describe_inference_component, InferenceComponentName="chat-v1")
    assert error["Code"] == "ValidationException"


def test_errors_are_sagemakers(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm)
    _create(sm, "chat-v1")
    missing = f'Could not find inference component "{ARN}:inference-component/nope".'
    for call, kwargs in (
        (sm.describe_inference_component, {}),
        (sm.delete_inference_component, {}),
        (sm.update_inference_component, {"RuntimeConfig": {"CopyCount": 1}}),
        (
            sm.update_inference_component_runtime_config,
            {"DesiredRuntimeConfig": {"CopyCount": 1}},
        ),
    ):
        error = _error(call, InferenceComponentName="nope", **kwargs)
        assert (error["Code"], error["Message"], error["HTTPStatusCode"]) == (
            "ValidationException",
            missing,
            400,
        )

    duplicate = _error(_create, sm, "chat-v1")
    assert duplicate["Code"] == "ValidationException"
    assert "already existing inference component" in duplicate["Message"]

    no_endpoint = _error(_create, sm, "chat-v2", endpoint="gone")
    assert no_endpoint["Code"] == "ValidationException"
    assert no_endpoint["Message"] == f'Could not find endpoint "{ARN}:endpoint/gone".'

    no_variant = _error(
        sm.create_inference_component,
        InferenceComponentName="chat-v3",
        EndpointName="pool",
        VariantName="Blue",
        Specification=SPEC,
        RuntimeConfig={"CopyCount": 1},
    )
    assert no_variant["Code"] == "ValidationException" and '"Blue"' in no_variant["Message"]

    no_model = _error(
        sm.create_inference_component,
        InferenceComponentName="chat-v4",
        EndpointName="pool",
        Specification={**SPEC, "ModelName": "unknown"},
        RuntimeConfig={"CopyCount": 1},
    )
    assert no_model["Message"] == f'Could not find model "{ARN}:model/unknown".'
    assert {
        c["InferenceComponentName"] for c in sm.list_inference_components()["InferenceComponents"]
    } == {"chat-v1"}


def test_a_negative_copy_count_is_refused_by_the_server(aws):
    # botocore checks CopyCount >= 0 itself; without that check the server must refuse too.
    sm = _client("sagemaker", parameter_validation=False)
    _shared_endpoint(sm)
    error = _error(_create, sm, "chat-v1", copies=-1)
    assert (
        error["Code"] == "ValidationException" and "greater than or equal to 0" in error["Message"]
    )
    _create(sm, "chat-v1", copies=1)
    error = _error(
        sm.update_inference_component_runtime_config,
        InferenceComponentName="chat-v1",
        DesiredRuntimeConfig={"CopyCount": -2},
    )
    assert error["Code"] == "ValidationException"
    runtime = sm.describe_inference_component(InferenceComponentName="chat-v1")["RuntimeConfig"]
    assert runtime == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}


def test_tags_of_a_component(aws):
    sm = _client("sagemaker")
    _shared_endpoint(sm)
    arn = _create(sm, "chat-v1", Tags=[{"Key": "llmdeploy:model", "Value": "chat"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "llmdeploy:model", "Value": "chat"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "search"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["llmdeploy:model"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "search"}]


# --- CloudFormation ---------------------------------------------------------------------------


def _template(image: str = "img:1") -> str:
    """A model on an inference-component endpoint, its copies a Number parameter."""
    return json.dumps(
        {
            "Parameters": {
                "CopyCount": {"Type": "Number", "Default": "1", "MinValue": 0, "MaxValue": 4}
            },
            "Resources": {
                "Model": {
                    "Type": "AWS::SageMaker::Model",
                    "Properties": {"ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": image}},
                },
                "Config": {
                    "Type": "AWS::SageMaker::EndpointConfig",
                    "Properties": {
                        "ProductionVariants": [
                            {
                                "VariantName": "AllTraffic",
                                "InstanceType": "ml.g6e.12xlarge",
                                "InitialInstanceCount": 1,
                                "ManagedInstanceScaling": {
                                    "Status": "ENABLED",
                                    "MinInstanceCount": 1,
                                    "MaxInstanceCount": 2,
                                },
                            }
                        ]
                    },
                },
                "Endpoint": {
                    "Type": "AWS::SageMaker::Endpoint",
                    "Properties": {
                        "EndpointName": "pool",
                        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                    },
                },
                "Component": {
                    "Type": "AWS::SageMaker::InferenceComponent",
                    "DependsOn": "Endpoint",
                    "Properties": {
                        "InferenceComponentName": "chat-v1",
                        "EndpointName": "pool",
                        "VariantName": "AllTraffic",
                        "Specification": {
                            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                            "ComputeResourceRequirements": {
                                "NumberOfAcceleratorDevicesRequired": 1,
                                "MinMemoryRequiredInMb": 32768,
                            },
                        },
                        "RuntimeConfig": {"CopyCount": {"Ref": "CopyCount"}},
                        "DeploymentConfig": {
                            "RollingUpdatePolicy": {
                                "MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
                                "WaitIntervalInSeconds": 60,
                            }
                        },
                        "Tags": [{"Key": "llmdeploy:model", "Value": "chat"}],
                    },
                },
            },
            "Outputs": {
                "Ref": {"Value": {"Ref": "Component"}},
                "Status": {"Value": {"Fn::GetAtt": ["Component", "InferenceComponentStatus"]}},
                "Desired": {
                    "Value": {"Fn::GetAtt": ["Component", "RuntimeConfig.DesiredCopyCount"]}
                },
            },
        }
    )


def _change_set(cfn, stack: str, template: str, *, create: bool, **params: Any) -> dict:
    """Create a change set, check it, execute it; the change set as described."""
    created = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=f"cs-{_change_set.count}",
        TemplateBody=template,
        ChangeSetType="CREATE" if create else "UPDATE",
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in params.items()],
    )
    _change_set.count += 1
    described = cfn.describe_change_set(ChangeSetName=created["Id"], StackName=stack)
    if described["Status"] == "CREATE_COMPLETE":
        cfn.execute_change_set(ChangeSetName=created["Id"], StackName=stack)
    return described


_change_set.count = 0


def _changes(described: dict) -> set[tuple[str, str]]:
    return {
        (c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
        for c in described["Changes"]
    }


def _runtime(sm, name: str = "chat-v1") -> dict[str, int]:
    return sm.describe_inference_component(InferenceComponentName=name)["RuntimeConfig"]


def test_cloudformation_creates_updates_and_deletes_an_inference_component(aws):
    cfn, sm = _client("cloudformation"), _client("sagemaker")
    _change_set(cfn, "model-chat", _template(), create=True, CopyCount=2)

    (stack,) = cfn.describe_stacks(StackName="model-chat")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    arn = f"{ARN}:inference-component/chat-v1"
    assert outputs == {"Ref": arn, "Status": "InService", "Desired": "2"}  # Ref: the ARN
    (resource,) = [
        r
        for r in cfn.describe_stack_resources(StackName="model-chat")["StackResources"]
        if r["LogicalResourceId"] == "Component"
    ]
    assert resource["PhysicalResourceId"] == arn
    d = sm.describe_inference_component(InferenceComponentName="chat-v1")
    assert d["EndpointName"] == "pool"  # the template's name, which moto used to ignore
    model = cfn.describe_stack_resource(StackName="model-chat", LogicalResourceId="Model")
    model_arn = model["StackResourceDetail"]["PhysicalResourceId"]  # Ref of a Model: its ARN
    assert model_arn == f"{ARN}:model/{d['Specification']['ModelName']}"
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "llmdeploy:model", "Value": "chat"}]

    # Autoscaling adds a copy.
    sm.update_inference_component_runtime_config(
        InferenceComponentName="chat-v1", DesiredRuntimeConfig={"CopyCount": 3}
    )
    assert _runtime(sm) == {"DesiredCopyCount": 3, "CurrentCopyCount": 3}

    # A stack update passing the live count keeps it; the change set names the component.
    described = _change_set(cfn, "model-chat", _template(), create=False, CopyCount=3)
    assert _changes(described) == {("Modify", "Component")}
    assert _runtime(sm) == {"DesiredCopyCount": 3, "CurrentCopyCount": 3}

    # The same values again: nothing to change, and CloudFormation says so.
    described = _change_set(cfn, "model-chat", _template(), create=False, CopyCount=3)
    assert described["Status"] == "FAILED" and "didn't contain changes" in described["StatusReason"]

    # A stale count is written back, as CloudFormation does: the engine must pass the live one.
    sm.update_inference_component_runtime_config(
        InferenceComponentName="chat-v1", DesiredRuntimeConfig={"CopyCount": 4}
    )
    _change_set(cfn, "model-chat", _template(), create=False, CopyCount=2)
    assert _runtime(sm) == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    parameters = cfn.describe_stacks(StackName="model-chat")["Stacks"][0]["Parameters"]
    assert parameters == [{"ParameterKey": "CopyCount", "ParameterValue": "2"}]

    # A new image replaces the Model; the component moves to the new model (updated in place).
    old_model = d["Specification"]["ModelName"]
    described = _change_set(cfn, "model-chat", _template("img:2"), create=False, CopyCount=2)
    assert _changes(described) == {("Modify", "Model"), ("Modify", "Component")}
    d2 = sm.describe_inference_component(InferenceComponentName="chat-v1")
    assert d2["Specification"]["ModelName"] not in (old_model, None)
    assert d2["CreationTime"] == d["CreationTime"]  # the same component, not a new one
    assert _runtime(sm) == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}

    cfn.delete_stack(StackName="model-chat")
    assert sm.list_inference_components()["InferenceComponents"] == []
    assert (
        "Could not find inference component"
        in _error(sm.describe_inference_component, InferenceComponentName="chat-v1")["Message"]
    )


def test_a_parameters_default_reaches_the_copy_count(aws):
    cfn, sm = _client("cloudformation"), _client("sagemaker")
    _change_set(cfn, "model-chat", _template(), create=True)  # CopyCount: its Default, "1"
    assert _runtime(sm) == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}


def test_number_parameters_are_checked_against_their_range(aws):
    cfn = _client("cloudformation")
    for value, message in (
        (5, "Parameter 'CopyCount' must be a number not greater than 4"),
        (-1, "Parameter 'CopyCount' must be a number not less than 0"),
        ("many", "Parameter 'CopyCount' must be a number."),
    ):
        error = _error(
            cfn.create_change_set,
            StackName="model-chat",
            ChangeSetName="cs",
            TemplateBody=_template(),
            ChangeSetType="CREATE",
            Parameters=[{"ParameterKey": "CopyCount", "ParameterValue": str(value)}],
        )
        assert (error["Code"], error["Message"]) == ("ValidationError", message)
    assert cfn.list_stacks()["StackSummaries"] == []


def test_a_component_on_a_missing_endpoint_fails_the_stack(aws):
    cfn = _client("cloudformation")
    template = json.loads(_template())
    for name in ("Config", "Endpoint"):
        del template["Resources"][name]
    del template["Resources"]["Component"]["DependsOn"]
    # moto executes change sets synchronously: the failure is ExecuteChangeSet's error.
    with pytest.raises(ClientError, match="Could not find endpoint"):
        _change_set(cfn, "model-chat", json.dumps(template), create=True)


# --- a dedicated endpoint: instance counts ----------------------------------------------------


def _dedicated_template() -> str:
    return json.dumps(
        {
            "Parameters": {
                "InstanceCount": {"Type": "Number", "Default": "1", "MinValue": 1, "MaxValue": 4}
            },
            "Resources": {
                "Model": {
                    "Type": "AWS::SageMaker::Model",
                    "Properties": {"ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "img"}},
                },
                "Config": {
                    "Type": "AWS::SageMaker::EndpointConfig",
                    "Properties": {
                        "ProductionVariants": [
                            {
                                "VariantName": "AllTraffic",
                                "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                                "InstanceType": "ml.p5en.48xlarge",
                                "InitialInstanceCount": {"Ref": "InstanceCount"},
                                "InitialVariantWeight": 1.0,
                            }
                        ]
                    },
                },
                "Endpoint": {
                    "Type": "AWS::SageMaker::Endpoint",
                    "Properties": {
                        "EndpointName": "reasoning",
                        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                    },
                },
            },
        }
    )


def _variant(sm, endpoint: str = "reasoning") -> dict[str, Any]:
    (variant,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return variant


def test_a_dedicated_endpoints_instance_count_scales_and_follows_stack_updates(aws):
    cfn, sm = _client("cloudformation"), _client("sagemaker")
    _change_set(cfn, "endpoint-reasoning", _dedicated_template(), create=True, InstanceCount=2)
    variant = _variant(sm)
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (2, 2)

    # Autoscaling of a dedicated endpoint, as a test does it: the variant's instance count.
    sm.update_endpoint_weights_and_capacities(
        EndpointName="reasoning",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 3}],
    )
    variant = _variant(sm)
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (3, 3)
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (1.0, 1.0)  # kept

    # The live count passed back: the config is replaced and the endpoint moves to it.
    config = sm.describe_endpoint(EndpointName="reasoning")["EndpointConfigName"]
    described = _change_set(
        cfn, "endpoint-reasoning", _dedicated_template(), create=False, InstanceCount=3
    )
    assert _changes(described) == {("Modify", "Config"), ("Modify", "Endpoint")}
    endpoint = sm.describe_endpoint(EndpointName="reasoning")
    assert endpoint["EndpointConfigName"] != config
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 3
    new_config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert new_config["ProductionVariants"][0]["InitialInstanceCount"] == 3

    # A new config with another count: the endpoint takes that config's InitialInstanceCount.
    _change_set(cfn, "endpoint-reasoning", _dedicated_template(), create=False, InstanceCount=1)
    variant = _variant(sm)
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 1)


def _keyed_template(version: int) -> str:
    """A dedicated endpoint whose config is encrypted with the stack's KMS key (GetAtt Arn),
    as llmdeploy's are; every resource is tagged with the spec's version, the key too."""
    tags = [{"Key": "llmdeploy:version", "Value": str(version)}]
    key_arn = {"Fn::GetAtt": ["Key", "Arn"]}
    return json.dumps(
        {
            "Resources": {
                "Key": {
                    "Type": "AWS::KMS::Key",
                    "Properties": {
                        "Description": "endpoint volumes",
                        "KeyPolicy": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"AWS": f"arn:aws:iam::{MOTO_ACCOUNT}:root"},
                                    "Action": "kms:*",
                                    "Resource": "*",
                                }
                            ],
                        },
                        "Tags": tags,
                    },
                },
                "Logs": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {
                        "LogGroupName": "/aws/sagemaker/Endpoints/reasoning",
                        "KmsKeyId": key_arn,
                        "Tags": tags,
                    },
                },
                "Model": {
                    "Type": "AWS::SageMaker::Model",
                    "Properties": {
                        "ExecutionRoleArn": ROLE,
                        "PrimaryContainer": {"Image": f"img:{version}"},
                        "Tags": tags,
                    },
                },
                "Config": {
                    "Type": "AWS::SageMaker::EndpointConfig",
                    "Properties": {
                        "KmsKeyId": key_arn,
                        "ProductionVariants": [
                            {
                                "VariantName": "AllTraffic",
                                "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                                "InstanceType": "ml.p5en.48xlarge",
                                "InitialInstanceCount": 1,
                            }
                        ],
                        "Tags": tags,
                    },
                },
                "Endpoint": {
                    "Type": "AWS::SageMaker::Endpoint",
                    "Properties": {
                        "EndpointName": "reasoning",
                        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
                        "Tags": tags,
                    },
                },
            },
            "Outputs": {"KeyArn": {"Value": key_arn}},
        }
    )


def test_a_key_moto_cannot_update_keeps_its_arn_for_the_resources_replaced_around_it(aws):
    cfn, sm, kms = _client("cloudformation"), _client("sagemaker"), _client("kms")
    _change_set(cfn, "endpoint-reasoning", _keyed_template(1), create=True)
    config = sm.describe_endpoint(EndpointName="reasoning")["EndpointConfigName"]
    key = sm.describe_endpoint_config(EndpointConfigName=config)["KmsKeyId"]

    # A new version: a new model, so a new config the endpoint moves to; the key's and the log
    # group's tags change too, and moto has no update for either type (moto made them None,
    # and the config's GetAtt failed: "references undefined resource Key").
    described = _change_set(cfn, "endpoint-reasoning", _keyed_template(2), create=False)
    assert {("Modify", "Key"), ("Modify", "Config"), ("Modify", "Endpoint")} <= _changes(described)
    moved = sm.describe_endpoint(EndpointName="reasoning")["EndpointConfigName"]
    assert moved != config
    assert sm.describe_endpoint_config(EndpointConfigName=moved)["KmsKeyId"] == key
    assert [k["KeyArn"] for k in kms.list_keys()["Keys"]] == [key]  # the one key, kept
    groups = _client("logs").describe_log_groups(logGroupNamePrefix="/aws/sagemaker")
    assert [g["logGroupName"] for g in groups["logGroups"]] == [
        "/aws/sagemaker/Endpoints/reasoning"
    ]  # kept too (moto stores no KmsKeyId from CloudFormation: not checked)
    (stack,) = cfn.describe_stacks(StackName="endpoint-reasoning")["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["Outputs"] == [{"OutputKey": "KeyArn", "OutputValue": key}]


# --- stacks' tags, S3 conditional writes, CloudWatch -------------------------------------------


def test_change_set_tags_show_on_the_stack(aws):
    cfn = _client("cloudformation")

    def tags() -> dict[str, str]:
        (stack,) = cfn.describe_stacks(StackName="endpoint-reasoning")["Stacks"]
        return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}

    created = cfn.create_change_set(
        StackName="endpoint-reasoning",
        ChangeSetName="cs-1",
        TemplateBody=_dedicated_template(),
        ChangeSetType="CREATE",
        Tags=[{"Key": "llmdeploy:environment", "Value": "dev"}],
    )
    assert tags() == {"llmdeploy:environment": "dev"}  # already on the stack under review
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert tags() == {"llmdeploy:environment": "dev"}

    updated = cfn.create_change_set(
        StackName="endpoint-reasoning",
        ChangeSetName="cs-2",
        TemplateBody=_dedicated_template(),
        ChangeSetType="UPDATE",
        Parameters=[{"ParameterKey": "InstanceCount", "ParameterValue": "2"}],
        Tags=[
            {"Key": "llmdeploy:environment", "Value": "dev"},
            {"Key": "llmdeploy:model", "Value": "reasoning"},
        ],
    )
    cfn.execute_change_set(ChangeSetName=updated["Id"])
    assert tags() == {"llmdeploy:environment": "dev", "llmdeploy:model": "reasoning"}


def test_s3_conditional_writes(aws):
    s3 = _client("s3")
    s3.create_bucket(Bucket="history")
    s3.put_object(Bucket="history", Key="dev/lock.json", Body=b"first", IfNoneMatch="*")
    refused = _error(
        s3.put_object, Bucket="history", Key="dev/lock.json", Body=b"second", IfNoneMatch="*"
    )
    assert (refused["Code"], refused["HTTPStatusCode"]) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="history", Key="dev/lock.json")["Body"].read() == b"first"

    etag = s3.head_object(Bucket="history", Key="dev/lock.json")["ETag"]
    s3.put_object(Bucket="history", Key="dev/lock.json", Body=b"third", IfMatch=etag)
    stale = _error(s3.put_object, Bucket="history", Key="dev/lock.json", Body=b"x", IfMatch=etag)
    assert (stale["Code"], stale["HTTPStatusCode"]) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="history", Key="dev/lock.json")["Body"].read() == b"third"


def test_s3_conditional_writes_race_to_one_winner(aws):
    # The server runs in this process: switching threads often makes moto's check-then-write
    # race show (two winners, without the patch); S3 lets exactly one writer create the key.
    s3 = _client("s3")
    s3.create_bucket(Bucket="history")
    start = threading.Barrier(8)
    won: list[int] = []

    def write(i: int) -> None:
        client = _client("s3")
        start.wait()
        try:
            client.put_object(Bucket="history", Key="lock", Body=str(i).encode(), IfNoneMatch="*")
            won.append(i)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "PreconditionFailed"

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for _ in range(10):
            s3.delete_object(Bucket="history", Key="lock")
            won.clear()
            threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(won) == 1
            assert (
                s3.get_object(Bucket="history", Key="lock")["Body"].read() == str(won[0]).encode()
            )
    finally:
        sys.setswitchinterval(interval)


def test_cloudwatch_sums_a_components_invocations_over_the_last_hour(aws):
    cw = _client("cloudwatch")
    now = datetime.now(UTC)

    def put(component: str, value: float, ago: timedelta) -> None:
        cw.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": [{"Name": "InferenceComponentName", "Value": component}],
                    "Value": value,
                    "Timestamp": now - ago,
                }
            ],
        )

    def served(component: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            Dimensions=[{"Name": "InferenceComponentName", "Value": component}],
            StartTime=now - timedelta(hours=1),
            EndTime=now,
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    put("chat-v1", 5, timedelta(minutes=50))
    put("chat-v1", 7, timedelta(minutes=5))
    put("chat-v1", 100, timedelta(hours=3))  # outside the hour
    put("sql-v1", 40, timedelta(minutes=5))  # another component
    assert served("chat-v1") == 12
    assert served("sql-v1") == 40
    assert served("idle-v1") == 0
