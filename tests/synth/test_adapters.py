"""LoRA adapters synthesized (docs/adapters.md): an adapter component naming its base's, with
the adapter's weights as its artifact and nothing of its own to compute with; the base's LoRA
settings and its read grant on the adapter's weights; the stack order; cfn-lint and cdk-nag
clean; the fingerprint moving with the base's endpoint; the construct on its own."""

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
    ContainerImage,
    Counts,
    InferenceComponent,
    InferenceComponentAdapter,
    InstanceType,
    LlmEndpoint,
    LmiSettings,
    ModelData,
)
from llmdeploy.synth.assembly import synthesize
from llmdeploy.synth.fingerprint import fingerprints
from llmdeploy.synth.layout import plan_stacks

ARTIFACT = "s3://bucket/sql-lora/1/adapter.tar.gz"


def adapter(name: str = "sql-lora", base: str = "m1") -> dict:
    return {
        "apiVersion": "llmdeploy/v1",
        "kind": "Model",
        "metadata": {"name": name, "version": 1, "owner": "team"},
        "spec": {
            "adapterOf": base,
            "source": {"s3Uri": f"s3://bucket/{name}/1/adapter.tar.gz"},
            "container": {"engine": "djl-lmi", "version": "0.33.0"},
        },
    }


def _portfolio(specs, env=None):
    # The adapter's file sorts before its base's: the layout still builds the base first.
    specs.standard(env or base_environment(), base_model("m1"), adapter("a-lora", "m1"))
    (resolved,) = specs.check().environments
    return resolved


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    from conftest import Specs

    specs = Specs(tmp_path_factory.mktemp("specs"))
    resolved = _portfolio(specs)
    outdir = tmp_path_factory.mktemp("cdk")
    summaries = synthesize(resolved, outdir, nag=True)
    return resolved, outdir, {s.name: s.template for s in summaries}


def _resources(path: Path, kind: str) -> list[dict]:
    template = json.loads(path.read_text())
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def test_the_adapter_is_a_component_on_its_bases(synthesized):
    _, _, templates = synthesized
    path = templates["llmdeploy-prod-model-a-lora"]
    (ic,) = _resources(path, "AWS::SageMaker::InferenceComponent")
    props = ic["Properties"]
    assert props["EndpointName"] == "llmdeploy-prod-pool"
    assert props["InferenceComponentName"] == "llmdeploy-prod-a-lora"
    assert props["Specification"] == {
        "BaseInferenceComponentName": "llmdeploy-prod-m1",
        "Container": {"ArtifactUrl": "s3://bucket/a-lora/1/adapter.tar.gz"},
    }
    # Nothing of its own: no copies, no scaling, no model, no role.
    assert "RuntimeConfig" not in props and "DeploymentConfig" not in props
    template = json.loads(path.read_text())
    assert {r["Type"] for r in template["Resources"].values()} == {
        "AWS::SageMaker::InferenceComponent"
    }
    assert "Parameters" not in template or "CopyCount" not in template["Parameters"]


def test_the_base_serves_lora_and_may_read_the_adapters_weights(synthesized):
    _, _, templates = synthesized
    path = templates["llmdeploy-prod-model-m1"]
    (model,) = _resources(path, "AWS::SageMaker::Model")
    env = model["Properties"]["PrimaryContainer"]["Environment"]
    assert env["OPTION_ENABLE_LORA"] == "true"
    assert env["OPTION_MAX_LORAS"] == "4" and env["OPTION_MAX_LORA_RANK"] == "16"
    policies = json.dumps(_resources(path, "AWS::IAM::Policy"))
    assert "bucket/a-lora/1/adapter.tar.gz" in policies  # exactly the object, no wildcard
    assert "bucket/a-lora/1/adapter.tar.gz*" not in policies


def test_the_adapters_stack_depends_on_its_endpoints_and_its_bases(synthesized):
    resolved, outdir, _ = synthesized
    manifest = json.loads((outdir / "manifest.json").read_text())
    deps = manifest["artifacts"]["llmdeploy-prod-model-a-lora"]["dependencies"]
    assert {"llmdeploy-prod-endpoint-pool", "llmdeploy-prod-model-m1"} <= set(deps)
    planned = {p.name: p for p in plan_stacks(resolved, ["a-lora"])}
    # Naming the adapter brings its base (the grant on its weights) and their endpoint.
    assert set(planned) == {
        "llmdeploy-prod-endpoint-pool",
        "llmdeploy-prod-model-m1",
        "llmdeploy-prod-model-a-lora",
    }


def test_the_endpoints_dashboard_shows_the_adapter(synthesized):
    _, _, templates = synthesized
    assert "llmdeploy-prod-a-lora" in templates["llmdeploy-prod-dashboards"].read_text()


def test_adapter_templates_pass_cfn_lint(synthesized):
    _, _, templates = synthesized
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


def test_the_fingerprint_moves_with_the_bases_endpoint(specs):
    two = mutate(
        base_environment(),
        spec__endpoints=[
            *base_environment()["spec"]["endpoints"],
            {
                "name": "pool2",
                "instanceType": "ml.g6e.12xlarge",
                "instances": {"min": 0, "initial": 1, "max": 2},
            },
        ],
    )
    resolved = _portfolio(specs, two)
    before = fingerprints(resolved, plan_stacks(resolved, ()), "tools")
    specs.write("models/m1.yaml", mutate(base_model("m1"), spec__endpoint="pool2"))
    (again,) = specs.check().environments
    after = fingerprints(again, plan_stacks(again, ()), "tools")
    changed = {name for name in before if before[name] != after[name]}
    # The adapter's own spec did not change, but its template names the base's endpoint.
    assert "llmdeploy-prod-model-a-lora" in changed


def test_the_bases_fingerprint_moves_with_its_adapters_weights(specs, tmp_path):
    """The base's role may read exactly its adapters' weights: a second adapter, or an
    adapter's new weights, changes the base's template, so its fingerprint must move and a
    warm synth must equal a cold one."""
    from llmdeploy.synth.cache import SynthCache

    resolved = _portfolio(specs)
    cache = SynthCache(tmp_path / "cache")
    synthesize(resolved, tmp_path / "before", cache=cache)
    before = fingerprints(resolved, plan_stacks(resolved, ()), "tools")
    base = "llmdeploy-prod-model-m1"
    for change in ("new weights", "second adapter"):
        if change == "new weights":
            moved = adapter("a-lora", "m1")
            moved["spec"]["source"]["s3Uri"] = "s3://bucket/a-lora/2/adapter.tar.gz"
            specs.write("models/a-lora.yaml", moved)
        else:
            specs.write("models/b-lora.yaml", adapter("b-lora", "m1"))
        (again,) = specs.check().environments
        after = fingerprints(again, plan_stacks(again, ()), "tools")
        assert after[base] != before[base], change
        warm = synthesize(again, tmp_path / change / "warm", cache=cache)
        assert not next(s for s in warm if s.name == base).cached, change
        synthesize(again, tmp_path / change / "cold")
        for name in (f"{base}.template.json",):
            cold = (tmp_path / change / "cold" / name).read_bytes()
            assert (tmp_path / change / "warm" / name).read_bytes() == cold, change
        before = after


# --- the construct on its own ------------------------------------------------------------------


def _base(stack: cdk.Stack, lmi: LmiSettings | None = None) -> InferenceComponent:
    endpoint = LlmEndpoint(
        stack,
        "Pool",
        instance_type=InstanceType.G6E_12XLARGE,
        instances=Counts(1, 1, 2),
    )
    return InferenceComponent(
        stack,
        "Base",
        endpoint=endpoint,
        image=ContainerImage.djl_lmi(),
        model_data=ModelData.from_s3_uri("s3://bucket/llama-3-8b/1/"),
        lmi=lmi or LmiSettings(rolling_batch="vllm", enable_lora=True, max_lora_rank=64),
        accelerators=1,
        memory_mib=32768,
        copies=Counts(1, 1, 2),
    )


def _stack() -> cdk.Stack:
    return cdk.Stack(
        cdk.App(), "S", env=cdk.Environment(account="111122223333", region="us-east-1")
    )


def test_the_construct_grants_its_owned_base_and_waits_for_it():
    stack = _stack()
    base = _base(stack)
    InferenceComponentAdapter(stack, "Sql", base=base, artifact=ModelData.from_s3_uri(ARTIFACT))
    t = Template.from_stack(stack)
    t.has_resource(
        "AWS::SageMaker::InferenceComponent",
        {
            "Properties": Match.object_like(
                {
                    "Specification": {
                        "BaseInferenceComponentName": Match.any_value(),
                        "Container": {"ArtifactUrl": ARTIFACT},
                    }
                }
            ),
            "DependsOn": Match.array_with([Match.string_like_regexp("^Base[0-9A-F]+$")]),
        },
    )
    t.has_resource_properties(
        "AWS::SageMaker::Model",
        Match.object_like(
            {
                "PrimaryContainer": Match.object_like(
                    {
                        "Environment": Match.object_like(
                            {"OPTION_ENABLE_LORA": "true", "OPTION_MAX_LORA_RANK": "64"}
                        )
                    }
                )
            }
        ),
    )
    assert "sql-lora/1/adapter.tar.gz" in json.dumps(t.find_resources("AWS::IAM::Policy"))


def test_the_construct_on_an_imported_base():
    stack = _stack()
    endpoint = LlmEndpoint.from_endpoint_name(stack, "Pool", "team-pool")
    base = InferenceComponent.from_inference_component_name(stack, "Base", "llama-base", endpoint)
    a = InferenceComponentAdapter(
        stack,
        "Sql",
        base=base,
        artifact=ModelData.from_s3_uri(ARTIFACT),
        inference_component_name="sql-lora",
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::InferenceComponent",
        {
            "EndpointName": "team-pool",
            "InferenceComponentName": "sql-lora",
            "Specification": {
                "BaseInferenceComponentName": "llama-base",
                "Container": {"ArtifactUrl": ARTIFACT},
            },
        },
    )
    assert a.endpoint is endpoint and a.cfn_inference_component is a.node.default_child
    assert a.metric_invocations().dimensions == {"InferenceComponentName": "sql-lora"}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"artifact": ModelData()}, "SageMaker fetches an adapter's weights from S3"),
        ({"artifact": ModelData("s3://bucket/*")}, "s3://bucket/*"),
    ],
)
def test_the_construct_refuses_what_it_cannot_serve(kwargs, words):
    stack = _stack()
    with pytest.raises(ValueError, match=None) as info:
        InferenceComponentAdapter(stack, "A", base=_base(stack), **kwargs)
    assert words in str(info.value)


def test_an_adapter_of_an_adapter_is_refused():
    stack = _stack()
    first = InferenceComponentAdapter(
        stack, "A", base=_base(stack), artifact=ModelData.from_s3_uri(ARTIFACT)
    )
    with pytest.raises(ValueError, match="is an adapter itself"):
        InferenceComponentAdapter(stack, "B", base=first, artifact=ModelData.from_s3_uri(ARTIFACT))
