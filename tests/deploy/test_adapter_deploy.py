"""A LoRA adapter deployed against the moto server (docs/adapters.md): its stack after its
endpoint's and its base's, an adapter component on the base's endpoint, nothing of its own to
scale, and a second deploy that changes nothing."""

from __future__ import annotations

import json

import boto3
from typer.testing import CliRunner

from llmdeploy.cli.main import app

runner = CliRunner()

ADAPTER = """apiVersion: llmdeploy/v1
kind: Model
metadata:
  name: block-generation-python
  version: 1
  owner: codegen-team
spec:
  adapterOf: block-generation
  source:
    s3Uri: s3://acme-models/block-generation-python/1/adapter.tar.gz
  container:
    engine: djl-lmi
    version: "0.33.0"
"""


def _run(*args: str):
    return runner.invoke(app, [*args, "--specs", "models", "--specs", "infra"])


def test_an_adapter_deploys_with_its_base_and_lands_on_its_component(aws, portfolio):
    (portfolio / "models" / "block-generation-python.yaml").write_text(ADAPTER)
    result = _run("deploy", "--env", "dev", "block-generation-python", "--no-verify", "-o", "json")
    assert result.exit_code == 0, result.output
    stacks = {s["stack"]: s["outcome"] for s in json.loads(result.stdout)["stacks"]}
    # Naming the adapter brings its base (which may read the adapter's weights) and endpoint.
    assert stacks == {
        "llmdeploy-dev-endpoint-codegen-g6": "deployed",
        "llmdeploy-dev-model-block-generation": "deployed",
        "llmdeploy-dev-model-block-generation-python": "deployed",
    }
    sm = boto3.client("sagemaker", region_name="us-west-2")
    d = sm.describe_inference_component(
        InferenceComponentName="llmdeploy-dev-block-generation-python"
    )
    assert d["EndpointName"] == "llmdeploy-dev-codegen-g6"
    assert d["Specification"]["BaseInferenceComponentName"] == "llmdeploy-dev-block-generation"
    assert d["Specification"]["Container"]["ArtifactUrl"].endswith("/adapter.tar.gz")
    assert "RuntimeConfig" not in d  # no copies of its own

    again = _run("deploy", "--env", "dev", "--no-verify", "-o", "json")
    assert again.exit_code == 0, again.output
    outcomes = {s["stack"]: s["outcome"] for s in json.loads(again.stdout)["stacks"]}
    assert outcomes["llmdeploy-dev-model-block-generation-python"] == "unchanged"

    status = _run("status", "--env", "dev", "-o", "json")
    assert status.exit_code == 0, status.output
    assert "llmdeploy-dev-block-generation-python" in status.stdout
