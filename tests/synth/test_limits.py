"""CloudFormation's limits hold for the largest shapes the spec allows: 500 resources per
stack, and 51,200 bytes for a template submitted directly (as the deploy engine does)."""

from __future__ import annotations

import json

import yaml

from conftest import base_environment, base_model, mutate
from llmdeploy.deploy.actions import MAX_TEMPLATE_BODY
from llmdeploy.synth.assembly import synthesize

MAX_RESOURCES = 500


def _largest(specs):
    vpc = {
        "subnetIds": [f"subnet-{i:017x}" for i in range(16)],
        "securityGroupIds": [f"sg-{i:017x}" for i in range(5)],
    }
    env = mutate(
        base_environment(),
        spec__stackPrefix="p" * 20,
        spec__security={"vpc": vpc, "networkIsolation": True},
        # Room for the model's 1,000 copies of one GPU, 4 to an instance.
        spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 250},
    )
    # 16 container variables at SageMaker's 1,024 characters each (6 of llmdeploy's: the
    # four LMI settings below, the weights' directory and the loading timeout), both rollback
    # alarms, scale to zero, the longest name that still fits.
    extra = {f"OPTION_PASS_THROUGH_{i:02d}": "v" * 1024 for i in range(10)}
    model = mutate(
        base_model("m" * 42),
        spec__lmi={
            "rollingBatch": "vllm",
            "tensorParallelDegree": 1,
            "maxRollingBatchSize": 64,
            "jobQueueSize": 1000,
            "extraEnv": extra,
        },
        spec__copies={"min": 0, "initial": 1, "max": 1000},
        spec__rollout={
            "batchCopies": 50,  # SageMaker's smallest batch at 1,000 copies: 5%
            "waitSeconds": 600,
            "rollbackOn": {"errorRatePercent": 5, "p95LatencyMs": 2000},
        },
    )
    dedicated = mutate(
        base_model("d" * 42),
        spec__endpoint=None,
        spec__resources=None,
        spec__copies=None,
        spec__lmi={"tensorParallelDegree": 1, "extraEnv": extra},
        spec__dedicated={
            "instanceType": "ml.g6e.48xlarge",
            "instances": {"min": 1, "initial": 1, "max": 1000},
        },
        spec__rollout={"rollbackOn": {"errorRatePercent": 5, "p95LatencyMs": 2000}},
    )
    specs.standard(env, model, dedicated)
    return specs


def test_the_largest_stacks_fit_cloudformation(specs, tmp_path):
    _largest(specs)
    (resolved,) = specs.check().environments
    summaries = synthesize(resolved, tmp_path)
    assert len(summaries) == 4  # the endpoint, the two models, the dashboards
    for s in summaries:
        size = len(s.template.read_bytes())
        assert s.resources < MAX_RESOURCES, (s.name, s.resources)
        assert size < MAX_TEMPLATE_BODY, (s.name, size)
    model = next(s for s in summaries if "-model-mmm" in s.name)
    env = json.loads(model.template.read_text())
    (props,) = [
        r["Properties"] for r in env["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"
    ]
    assert len(props["PrimaryContainer"]["Environment"]) == 16


def test_an_endpoint_stack_does_not_grow_with_its_models(specs, tmp_path):
    """1,000 models on one endpoint: its stack is the same as with one model, so a model's
    change never turns into an endpoint update, and no stack approaches the limits."""
    env = mutate(
        base_environment(), spec__endpoints__0__instances={"min": 0, "initial": 1, "max": 1000}
    )
    specs.write("infra/prod.yaml", env)
    model = mutate(base_model("m0000"), spec__copies={"min": 0, "initial": 1, "max": 1})
    specs.write("models/m0000.yaml", model)
    (alone,) = specs.check().environments
    one = synthesize(alone, tmp_path / "one", ["m0000"])
    for i in range(1, 1000):
        text = yaml.safe_dump(model).replace("m0000", f"m{i:04d}")
        (specs.root / f"models/m{i:04d}.yaml").write_text(text)
    (crowded,) = specs.check().environments
    assert len(crowded.models) == 1000
    many = synthesize(crowded, tmp_path / "many", ["m0000"])
    assert [s.name for s in many] == [s.name for s in one]
    assert many[0].template.read_text() == one[0].template.read_text()  # the endpoint stack
    assert many[0].resources < MAX_RESOURCES
