"""The constructs grant a model exactly its weights folder (or object) and its repository, and
refuse, on their own, a value that would widen a grant (defence in depth: no spec involved)."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from llmdeploy.constructs import (
    ContainerImage,
    Counts,
    InferenceComponent,
    InstanceType,
    LlmEndpoint,
    ModelData,
)

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128"
PARTITION = {"Ref": "AWS::Partition"}


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(
        cdk.App(), "Test", env=cdk.Environment(account="111122223333", region="us-east-1")
    )


def _model(stack, **kw) -> InferenceComponent:
    endpoint = LlmEndpoint.from_endpoint_name(stack, "Pool", "pool")
    props = {
        "image": ContainerImage.from_uri(IMAGE),
        "accelerators": 1,
        "memory_mib": 1024,
        "copies": Counts(1, 1, 1),
        "inference_component_name": "m1",
        "model_data": ModelData.from_s3("s3://acme-models/flow/3/"),
    } | kw
    return InferenceComponent(stack, "M1", endpoint=endpoint, **props)


def _model_statements(stack) -> list[dict]:
    (policy,) = [
        r["Properties"]
        for r in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        if "M1ExecutionRole" in r["Properties"]["PolicyName"]
    ]
    return policy["PolicyDocument"]["Statement"]


def _statement(statements, action) -> dict:
    (s,) = [
        s
        for s in statements
        if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    return s


def test_the_model_role_reads_exactly_its_folder_and_pulls_exactly_its_repository(stack):
    _model(stack)
    statements = _model_statements(stack)
    get = _statement(statements, "s3:GetObject")
    assert get["Resource"] == {"Fn::Join": ["", ["arn:", PARTITION, ":s3:::acme-models/flow/3/*"]]}
    listing = _statement(statements, "s3:ListBucket")
    assert listing["Resource"] == {"Fn::Join": ["", ["arn:", PARTITION, ":s3:::acme-models"]]}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["flow/3/*"]}}
    pull = _statement(statements, "ecr:BatchGetImage")
    assert pull["Resource"] == {
        "Fn::Join": [
            "",
            ["arn:", PARTITION, ":ecr:us-east-1:763104351884:repository/djl-inference"],
        ]
    }


def test_a_tarball_is_granted_as_one_object(stack):
    _model(stack, model_data=ModelData.from_s3("s3://acme-models/flow/3/model.tar.gz"))
    statements = _model_statements(stack)
    get = _statement(statements, "s3:GetObject")
    assert get["Resource"] == {
        "Fn::Join": ["", ["arn:", PARTITION, ":s3:::acme-models/flow/3/model.tar.gz"]]
    }
    listing = _statement(statements, "s3:ListBucket")
    assert listing["Condition"] == {"StringEquals": {"s3:prefix": ["flow/3/model.tar.gz"]}}


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("s3://acme-models", "names the whole bucket"),
        ("s3://acme-models/", "names the whole bucket"),
        ("s3://acme-models/flow", "also covers its siblings"),
        ("s3://acme-models/fl*/", "wildcard"),
        ("s3://acme-models/${aws:userid}/", "policy variable"),
        ("s3://acme-models/a/../b/", "'..'"),
    ],
)
def test_weights_that_would_widen_the_grant_are_refused(stack, uri, words):
    with pytest.raises(ValueError, match="model data") as info:
        _model(stack, model_data=ModelData.from_s3(uri))
    assert words in str(info.value)


@pytest.mark.parametrize(
    "image",
    [
        "999999999999.dkr.ecr.us-east-1.amazonaws.com/*:latest",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:*",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-?nference:1",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/Not Valid:1",
    ],
)
def test_an_image_that_would_widen_the_pull_right_is_refused(stack, image):
    with pytest.raises(ValueError, match="image"):
        _model(stack, image=ContainerImage.from_uri(image))


def test_a_component_name_that_would_widen_the_log_grant_is_refused(stack):
    with pytest.raises(ValueError, match="give the exact name"):
        _model(stack, inference_component_name="m*")


@pytest.mark.parametrize(
    ("arn", "words"),
    [
        ("arn:aws:kms:us-east-1:999999999999:key/*", "wildcard"),
        ("arn:aws:kms:us-east-1:111122223333:alias/llm", "is an alias"),
    ],
)
def test_an_encryption_key_that_is_not_one_key_is_refused(stack, arn, words):
    key = kms.Key.from_key_arn(stack, "Theirs", arn)
    with pytest.raises(ValueError, match=words):
        LlmEndpoint(
            stack,
            "Pool",
            instance_type=InstanceType.INF2_48XLARGE,
            instances=Counts(0, 1, 1),
            endpoint_name="pool",
            encryption_key=key,
        )


def test_the_weights_acknowledgement_names_only_the_validated_folder(stack):
    component = _model(stack)
    acks = [
        str(m.data) for m in component.role.node.metadata if m.type == "aws:cdk:acknowledged-rules"
    ]
    text = " ".join(acks)
    assert "s3:::acme-models/flow/3/*" in text
    assert "s3:::acme-models/*" not in text and "s3:::acme-models*" not in text
