"""Schedules synthesized (docs/scheduling.md): scheduled actions on the component's scalable
target and on a dedicated endpoint's, the wake-from-zero wiring a scheduled zero needs, cfn-lint
and cdk-nag clean, and the synth cache's fingerprint moving with the schedule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from conftest import base_environment, base_model, mutate
from llmdeploy.constructs import (
    Autoscaling,
    ContainerImage,
    Counts,
    DedicatedEndpoint,
    InstanceType,
    ScheduledScaling,
)
from llmdeploy.synth.assembly import synthesize
from llmdeploy.synth.fingerprint import fingerprints
from llmdeploy.synth.layout import plan_stacks

OFFICE = [
    {"cron": "0 8 ? * MON-FRI *", "timezone": "Europe/Berlin", "min": 2, "max": 4},
    {
        "cron": "0 20 ? * MON-FRI *",
        "timezone": "Europe/Berlin",
        "min": 0,
        "max": 2,
        "name": "night",
    },
]
DEDICATED = {
    "spec__endpoint": None,
    "spec__resources": None,
    "spec__copies": None,
    "spec__dedicated": {
        "instanceType": "ml.g6e.12xlarge",
        "instances": {"min": 1, "initial": 1, "max": 3},
    },
    "spec__autoscaling": {
        "target": 16,
        "schedule": [
            {"cron": "0 7 ? * MON-FRI *", "timezone": "America/New_York", "min": 2, "max": 3},
            {"cron": "0 19 ? * MON-FRI *", "timezone": "America/New_York", "min": 1, "max": 1},
        ],
    },
}


def _portfolio(specs):
    env = mutate(
        base_environment(), spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 4}
    )
    shared = mutate(
        base_model("office"),
        spec__copies={"min": 1, "initial": 1, "max": 4},
        spec__autoscaling={"target": 4, "schedule": OFFICE},
    )
    dedicated = mutate(base_model("solo"), **DEDICATED)
    specs.standard(env, shared, dedicated)
    (resolved,) = specs.check().environments
    return resolved


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    from conftest import Specs

    specs = Specs(tmp_path_factory.mktemp("specs"))
    resolved = _portfolio(specs)
    outdir = tmp_path_factory.mktemp("cdk")
    summaries = synthesize(resolved, outdir, nag=True)
    return resolved, {s.name: s.template for s in summaries}


def _target(template_path: Path) -> dict:
    template = json.loads(template_path.read_text())
    (target,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    ]
    return target


def test_a_components_schedule_becomes_scheduled_actions(synthesized):
    _, templates = synthesized
    target = _target(templates["llmdeploy-prod-model-office"])
    assert target["MinCapacity"] == 1 and target["MaxCapacity"] == 4
    assert target["ScheduledActions"] == [
        {
            "ScheduledActionName": "schedule-1",
            "Schedule": "cron(0 8 ? * MON-FRI *)",
            "Timezone": "Europe/Berlin",
            "ScalableTargetAction": {"MinCapacity": 2, "MaxCapacity": 4},
        },
        {
            "ScheduledActionName": "night",
            "Schedule": "cron(0 20 ? * MON-FRI *)",
            "Timezone": "Europe/Berlin",
            "ScalableTargetAction": {"MinCapacity": 0, "MaxCapacity": 2},
        },
    ]


def test_a_scheduled_zero_gets_the_wake_from_zero_alarm(synthesized):
    _, templates = synthesized
    template = json.loads(templates["llmdeploy-prod-model-office"].read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert "AWS::CloudWatch::Alarm" in types
    policies = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    ]
    assert {p["PolicyType"] for p in policies} == {"TargetTrackingScaling", "StepScaling"}
    alarms = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert any(a.get("MetricName") == "NoCapacityInvocationFailures" for a in alarms)


def test_a_dedicated_endpoints_schedule_moves_its_instances(synthesized):
    _, templates = synthesized
    target = _target(templates["llmdeploy-prod-model-solo"])
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert [a["ScalableTargetAction"] for a in target["ScheduledActions"]] == [
        {"MinCapacity": 2, "MaxCapacity": 3},
        {"MinCapacity": 1, "MaxCapacity": 1},
    ]
    assert {a["Timezone"] for a in target["ScheduledActions"]} == {"America/New_York"}


def test_scheduled_templates_pass_cfn_lint(synthesized):
    _, templates = synthesized
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--format",
            "json",
            *[str(p) for p in templates.values()],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]
    assert result.returncode in (0, 4, 8), result.stderr


def test_the_fingerprint_moves_with_the_schedule(specs):
    resolved = _portfolio(specs)
    before = fingerprints(resolved, plan_stacks(resolved, ()), "tools")
    moved = [dict(a) for a in OFFICE]
    moved[0]["cron"] = "30 7 ? * MON-FRI *"
    specs.write(
        "models/office.yaml",
        mutate(
            base_model("office"),
            spec__copies={"min": 1, "initial": 1, "max": 4},
            spec__autoscaling={"target": 4, "schedule": moved},
        ),
    )
    (again,) = specs.check().environments
    after = fingerprints(again, plan_stacks(again, ()), "tools")
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"llmdeploy-prod-model-office"}


# --- the constructs alone -----------------------------------------------------------------------


def _stack() -> cdk.Stack:
    return cdk.Stack(
        cdk.App(), "S", env=cdk.Environment(account="111122223333", region="us-east-1")
    )


def test_a_dedicated_endpoint_refuses_a_scheduled_zero_at_synth():
    stack = _stack()
    DedicatedEndpoint(
        stack,
        "Solo",
        instance_type=InstanceType.G6E_12XLARGE,
        image=ContainerImage.djl_lmi(),
        instances=Counts(1, 1, 2),
        autoscaling=Autoscaling(
            target=8, schedule=(ScheduledScaling("0 20 ? * MON-FRI *", min=0, max=1),)
        ),
    )
    with pytest.raises(
        Exception, match=r"schedule-dedicated-keeps-an-instance.*schedule\[0\]\.min"
    ):
        Template.from_stack(stack)


def test_a_dedicated_endpoint_with_a_schedule_synthesizes():
    stack = _stack()
    DedicatedEndpoint(
        stack,
        "Solo",
        instance_type=InstanceType.G6E_12XLARGE,
        image=ContainerImage.djl_lmi(),
        instances=Counts(1, 1, 2),
        autoscaling=Autoscaling(
            target=8,
            schedule=(
                ScheduledScaling("cron(0 8 ? * MON-FRI *)", 2, 2, timezone="Europe/Berlin"),
                ScheduledScaling("0 18 ? * MON-FRI *", 1, 1, timezone="Europe/Berlin"),
            ),
        ),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ScheduledActions": Match.array_with(
                [Match.object_like({"ScheduledActionName": "schedule-2"})]
            )
        },
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"cron": "0 8 * * 1-5", "min": 1, "max": 2}, "write `0 8 ? * MON-FRI *`"),
        ({"cron": "0 8 ? * MON-FRI *", "min": 3, "max": 2}, "min=3 is above max=2"),
        ({"cron": "0 8 ? * MON-FRI *", "min": 1, "max": 2, "timezone": "Berlin"}, "IANA"),
    ],
)
def test_scheduled_scaling_refuses_bad_props(kwargs, words):
    with pytest.raises(ValueError, match=__import__("re").escape(words)):
        ScheduledScaling(**kwargs)


def test_a_deploy_keeps_the_copies_a_scheduled_zero_left(synthesized):
    """The copy-count parameter reaches down to the schedule's lowest min: a deploy at night
    passes the running 0 back instead of raising it to copies.min (1) and waking the model."""
    from llmdeploy.deploy import capacity

    _, templates = synthesized
    text = templates["llmdeploy-prod-model-office"].read_text()
    param = json.loads(text)["Parameters"]["CopyCount"]
    assert (param["MinValue"], param["Default"], param["MaxValue"]) == (0, 1, 4)

    class Asleep:  # what DescribeInferenceComponent says at night
        def client(self, _):
            return self

        def describe_inference_component(self, **_):
            return {"RuntimeConfig": {"DesiredCopyCount": 0, "CurrentCopyCount": 0}}

    (kept,) = capacity.plan(Asleep(), text, exists=True)
    assert (kept.running, kept.value) == (0, 0)
    # The dedicated endpoint's instances reach down to its night's 1 (its min is 1 already).
    solo = json.loads(templates["llmdeploy-prod-model-solo"].read_text())["Parameters"]
    assert solo["InstanceCount"]["MinValue"] == 1
