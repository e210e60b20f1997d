"""Live capacity: the copies and instances that run are what a deploy passes, clamped into
the new spec's range; a new stack starts at the spec's initial."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from llmdeploy.deploy import capacity
from llmdeploy.errors import LlmdeployError


def _template(low=0, initial=1, high=4, parameter="CopyCount"):
    resources = {
        "Model": {
            "Type": "AWS::SageMaker::InferenceComponent",
            "Properties": {
                "InferenceComponentName": "llm-dev-m",
                "RuntimeConfig": {"CopyCount": {"Ref": "CopyCount"}},
            },
        },
        "Endpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointName": "llm-dev-ded"},
        },
    }
    params = {parameter: {"Type": "Number", "Default": initial, "MinValue": low, "MaxValue": high}}
    return json.dumps({"Parameters": params, "Resources": resources})


class _Aws:
    def __init__(self, sm):
        self.sm = sm

    def client(self, name):
        assert name == "sagemaker"
        return self.sm


def _sagemaker():
    import boto3

    return boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _refusing(code: str, message: str):
    """A SageMaker client whose DescribeInferenceComponent answers with this error."""
    sm = _sagemaker()
    stub = Stubber(sm)
    stub.add_client_error(
        "describe_inference_component", service_error_code=code, service_message=message
    )
    stub.activate()
    return sm


def _component(desired, current=None):
    sm = _sagemaker()
    stub = Stubber(sm)
    stub.add_response(
        "describe_inference_component",
        {
            "InferenceComponentName": "llm-dev-m",
            "InferenceComponentArn": "arn:aws:sagemaker:us-east-1:1:inference-component/llm-dev-m",
            "EndpointName": "pool",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/pool",
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
            "RuntimeConfig": {
                "DesiredCopyCount": desired,
                "CurrentCopyCount": desired if current is None else current,
            },
        },
        {"InferenceComponentName": "llm-dev-m"},
    )
    stub.activate()
    return sm


@pytest.mark.parametrize(
    ("running", "low", "high", "passed", "text"),
    [
        (3, 0, 4, 3, "copies: 3 running, kept; spec initial 1"),
        (5, 0, 4, 4, "copies: 5 running, set to 4 (the spec's max); spec initial 1"),
        (0, 1, 4, 1, "copies: 0 running, set to 1 (the spec's min); spec initial 1"),
        (0, 0, 4, 0, "copies: 0 running, kept; spec initial 1"),  # scaled to zero stays there
    ],
)
def test_what_runs_is_passed_clamped_into_the_new_range(running, low, high, passed, text):
    (kept,) = capacity.plan(_Aws(_component(running)), _template(low, 1, high), exists=True)
    assert kept.as_parameter() == {"ParameterKey": "CopyCount", "ParameterValue": str(passed)}
    assert kept.describe() == text


def test_desired_wins_over_current_while_a_scale_out_is_under_way():
    (kept,) = capacity.plan(_Aws(_component(4, current=2)), _template(), exists=True)
    assert kept.value == 4


def test_a_new_stack_starts_at_the_spec_initial_without_reading_anything():
    class NoCalls:
        def client(self, name):
            raise AssertionError("a new stack reads nothing")

    (kept,) = capacity.plan(NoCalls(), _template(initial=2), exists=False)
    assert (kept.value, kept.running) == (2, None)
    assert kept.describe() == "copies: none running, starts at the spec's initial 2"


def test_a_component_that_is_gone_is_created_at_the_initial():
    sm = _refusing("ValidationException", "Could not find inference component llm-dev-m.")
    (kept,) = capacity.plan(_Aws(sm), _template(initial=2), exists=True)
    assert (kept.value, kept.running) == (2, None)


def test_an_unreadable_count_stops_the_deploy_rather_than_guess():
    sm = _refusing(
        "AccessDeniedException", "not authorized to perform sagemaker:DescribeInferenceComponent"
    )
    with pytest.raises(LlmdeployError, match=r"cannot read the running copies .*AccessDenied"):
        capacity.plan(_Aws(sm), _template(), exists=True)


def test_a_dedicated_endpoint_keeps_its_instance_count():
    sm = _sagemaker()
    stub = Stubber(sm)
    stub.add_response(
        "describe_endpoint",
        {
            "EndpointName": "llm-dev-ded",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/llm-dev-ded",
            "EndpointStatus": "InService",
            "CreationTime": "2026-01-01T00:00:00Z",
            "LastModifiedTime": "2026-01-01T00:00:00Z",
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "CurrentInstanceCount": 3, "DesiredInstanceCount": 3}
            ],
        },
        {"EndpointName": "llm-dev-ded"},
    )
    stub.activate()
    template = _template(1, 1, 4, parameter="InstanceCount")
    (kept,) = capacity.plan(_Aws(sm), template, exists=True)
    assert kept.describe() == "instances: 3 running, kept; spec initial 1"


def test_a_template_without_capacity_parameters_passes_none():
    assert capacity.plan(None, json.dumps({"Resources": {}}), exists=True) == []
