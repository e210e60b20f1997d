"""Rollback deploys only what llmdeploy would: a recorded template is checked against the
template llmdeploy builds from the record's own spec."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from conftest import REPO
from llmdeploy.deploy.history import Record, template_digest
from llmdeploy.deploy.targets import build_targets
from llmdeploy.deploy.vet import RecordRefused, differences, vet
from llmdeploy.plan import check

STACK = "llmdeploy-dev-model-flow-generation"


@pytest.fixture(scope="module")
def legit(tmp_path_factory):
    """The dev environment, and a record of flow-generation as llmdeploy deploys it."""
    root = tmp_path_factory.mktemp("portfolio")
    shutil.copytree(REPO / "models", root / "models")
    shutil.copytree(REPO / "infra", root / "infra")
    (env,) = check([root / "models", root / "infra"], ["dev"]).environments
    (target,) = [
        t for t in build_targets(env, root / "out", ["flow-generation"]) if t.stack == STACK
    ]
    record = Record.new(
        environment="dev",
        stack=STACK,
        kind="deploy",
        outcome="succeeded",
        who="me",
        template=target.template,
        spec=target.spec,
        spec_text=target.recorded_text,
        model="flow-generation",
        version=3,
    )
    return env, record


def _with(record: Record, template: dict | None = None, spec: dict | None = None) -> Record:
    text = json.dumps(template) if template is not None else record.template
    return Record.new(
        environment=record.environment,
        stack=record.stack,
        kind=record.kind,
        outcome=record.outcome,
        who=record.who,
        template=text,
        spec=spec if spec is not None else record.spec,
        spec_text=record.spec_text,
        model=record.model,
        version=record.version,
    )


def _role(template: dict) -> str:
    return next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role")


def test_a_record_llmdeploy_wrote_passes(legit):
    env, record = legit
    vet(env, record, STACK)
    assert record.digest == template_digest(record.template)


def test_an_admin_user_added_to_a_record_is_refused(legit):
    env, record = legit
    template = json.loads(record.template)
    template["Resources"]["Backdoor"] = {
        "Type": "AWS::IAM::User",
        "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
    }
    with pytest.raises(RecordRefused) as info:
        vet(env, _with(record, template), STACK)
    message = str(info.value)
    assert "refusing record" in message and "version 3" in message
    assert "resource Backdoor (AWS::IAM::User) is not one llmdeploy creates" in message
    assert "llmdeploy deploy" in message


def _reference(legit) -> dict:
    return json.loads(legit[1].template)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            lambda t: t["Resources"][_role(t)]["Properties"]["AssumeRolePolicyDocument"][
                "Statement"
            ][0].update(Principal={"AWS": "arn:aws:iam::999999999999:root"}),
            "Properties.AssumeRolePolicyDocument differ from what llmdeploy builds (grants",
        ),
        (
            lambda t: t["Resources"][_role(t)]["Properties"].update(
                ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"]
            ),
            "Properties.ManagedPolicyArns differ",
        ),
        (
            lambda t: next(r for r in t["Resources"].values() if r["Type"] == "AWS::IAM::Policy")[
                "Properties"
            ]["PolicyDocument"]["Statement"].append(
                {"Effect": "Allow", "Action": "*", "Resource": "*"}
            ),
            "Properties.PolicyDocument differ",
        ),
        (
            lambda t: next(
                r for r in t["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"
            )["Properties"].update(EnableNetworkIsolation=False),
            "Properties.EnableNetworkIsolation differ",
        ),
        (
            lambda t: next(
                r for r in t["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"
            )["Properties"].update(ExecutionRoleArn="arn:aws:iam::111122223333:role/Admin"),
            "Properties.ExecutionRoleArn differ",
        ),
        (lambda t: t.update(Transform="AWS::Serverless-2016-10-31"), "declares a Transform"),
        (
            lambda t: next(
                r
                for r in t["Resources"].values()
                if r["Type"] == "AWS::SageMaker::InferenceComponent"
            ).update(Type="AWS::CloudFormation::Stack"),
            "llmdeploy makes it AWS::SageMaker::InferenceComponent",
        ),
    ],
)
def test_what_widens_trust_is_named(legit, tamper, expected):
    template = _reference(legit)
    changed = copy.deepcopy(template)
    tamper(changed)
    problems = differences(changed, template)
    assert any(expected in p for p in problems), problems


def _first(t: dict, kind: str) -> dict:
    return next(r for r in t["Resources"].values() if r["Type"] == kind)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        # What an allowlist of "trust" properties let through (found by a tester):
        (
            lambda t: _first(t, "AWS::SageMaker::InferenceComponent")["Properties"].update(
                EndpointName="someone-elses-endpoint"
            ),
            "Properties.EndpointName differ",
        ),
        (
            lambda t: _first(t, "AWS::SageMaker::InferenceComponent").update(
                DeletionPolicy="Delete", Condition="Never"
            ),
            "Condition, DeletionPolicy differ",
        ),
        (
            lambda t: _first(t, "AWS::CloudWatch::Alarm")["Properties"].update(
                AlarmActions=["arn:aws:sns:us-west-2:999999999999:theirs"]
            ),
            "Properties.AlarmActions differ",
        ),
        (lambda t: t["Parameters"]["CopyCount"].update(Default="abc"), "its Parameters differ"),
        (lambda t: t.update(Conditions={"Never": {"Fn::Equals": ["a", "b"]}}), "its Conditions"),
        (lambda t: t.update(Outputs={"X": {"Value": "y"}}), "its Outputs differ"),
        (lambda t: t["Resources"].pop(next(iter(t["Resources"]))), "is missing"),
    ],
)
def test_anything_llmdeploy_would_not_build_is_refused(legit, tamper, expected):
    template = _reference(legit)
    changed = copy.deepcopy(template)
    tamper(changed)
    problems = differences(changed, template)
    assert any(expected in p for p in problems), problems


def test_only_the_description_may_differ(legit):
    template = _reference(legit)
    changed = copy.deepcopy(template) | {"Description": "written by llmdeploy 0.1"}
    assert differences(changed, template) == []


def test_a_dedicated_endpoint_pointed_at_a_hand_made_config_is_refused(tmp_path):
    from conftest import REPO as repo

    root = tmp_path / "p"
    shutil.copytree(repo / "models", root / "models")
    shutil.copytree(repo / "infra", root / "infra")
    (env,) = check([root / "models", root / "infra"], ["dev"]).environments
    (target,) = [
        t
        for t in build_targets(env, root / "out", ["reasoning-70b"])
        if t.stack.endswith("reasoning-70b")
    ]
    reference = json.loads(target.template)
    changed = copy.deepcopy(reference)
    _first(changed, "AWS::SageMaker::Endpoint")["Properties"]["EndpointConfigName"] = "attacker"
    _first(changed, "AWS::SageMaker::EndpointConfig")["Properties"]["DataCaptureConfig"] = {
        "DestinationS3Uri": "s3://attacker-bucket/capture"
    }
    problems = differences(changed, reference)
    assert any("Properties.EndpointConfigName differ" in p for p in problems), problems
    assert any("Properties.DataCaptureConfig differ" in p for p in problems), problems


def test_a_record_whose_spec_fails_the_rules_now_is_refused(legit):
    env, record = legit
    spec = copy.deepcopy(record.spec)
    spec["spec"]["source"] = {"huggingFaceId": "meta-llama/Llama-3.1-8B"}  # network-isolated env
    with pytest.raises(RecordRefused, match="its spec does not pass validation now") as info:
        vet(env, _with(record, spec=spec), STACK)
    assert "(spec.source" in str(info.value)  # the field as a path, not s.p.e.c


def test_a_record_whose_spec_names_another_model_is_refused(legit):
    env, record = legit
    spec = copy.deepcopy(record.spec)
    spec["metadata"]["name"] = "sql-generation"
    with pytest.raises(RecordRefused, match="its spec names model 'sql-generation'"):
        vet(env, _with(record, spec=spec), STACK)


def test_a_template_that_is_not_json_is_refused(legit):
    env, record = legit
    bad = Record(**{**record.__dict__, "template": "not json"})
    with pytest.raises(RecordRefused, match="its template is not JSON"):
        vet(env, bad, STACK)
