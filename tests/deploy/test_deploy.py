"""diff, deploy, rollback and history against a moto server."""

from __future__ import annotations

import json

import boto3
import pytest
from typer.testing import CliRunner

from llmdeploy.cli.main import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [*args, "--specs", "models", "--specs", "infra"])


def _records(env: str, stack: str | None = None) -> list[dict]:
    result = _run("history", "--env", env, "-o", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    return [r for r in records if stack is None or r["stack"] == stack]


def test_done_when_deploy_change_diff_deploy_rollback_history(aws, portfolio):
    # Deploy the examples from scratch.
    result = _run("deploy", "--env", "dev", "--no-verify", "-o", "json")
    assert result.exit_code == 0, result.output
    stacks = json.loads(result.stdout)["stacks"]
    assert {s["outcome"] for s in stacks} == {"deployed"} and len(stacks) == 12  # + dashboards

    # One model's maxRollingBatchSize changes and its version is bumped.
    spec = portfolio / "models" / "flow-generation.yaml"
    spec.write_text(
        spec.read_text()
        .replace("maxRollingBatchSize: 16", "maxRollingBatchSize: 32")
        .replace("version: 3", "version: 4")
    )
    result = _run("diff", "--env", "dev", "--exit-code", "-o", "json")
    assert result.exit_code == 2, result.output
    diffs = {d["stack"]: d for d in json.loads(result.stdout)["stacks"]}
    changed = {name for name, d in diffs.items() if d["status"] != "unchanged"}
    assert changed == {"llmdeploy-dev-model-flow-generation"}
    flow = diffs["llmdeploy-dev-model-flow-generation"]
    fields = {f["path"]: (f["old"], f["new"]) for f in flow["fields"]}
    assert fields == {"spec.lmi.maxRollingBatchSize": (16, 32), "metadata.version": (3, 4)}
    assert (flow["version_old"], flow["version_new"]) == (3, 4) and flow["warnings"] == []
    assert any(r["action"] == "Modify" for r in flow["resources"])

    # Deploy touches only that stack: no change set for the others.
    result = _run("deploy", "--env", "dev", "--no-verify", "-o", "json")
    assert result.exit_code == 0, result.output
    outcomes = {s["stack"]: s for s in json.loads(result.stdout)["stacks"]}
    assert outcomes["llmdeploy-dev-model-flow-generation"]["outcome"] == "deployed"
    others = [s for n, s in outcomes.items() if n != "llmdeploy-dev-model-flow-generation"]
    assert {s["outcome"] for s in others} == {"unchanged"}
    assert sum(s["change_sets"] for s in others) == 0

    # Rollback restores the previous template byte for byte.
    stack = "llmdeploy-dev-model-flow-generation"
    first = _records("dev", stack)[0]
    result = _run("rollback", "flow-generation", "--env", "dev", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 3
    history_file = next((portfolio / ".llmdeploy/history/dev" / stack).glob("*.json"))
    recorded = sorted((portfolio / ".llmdeploy/history/dev" / stack).glob("*.json"))
    texts = [json.loads(p.read_text())["template"] for p in recorded]
    assert texts[2] == texts[0]  # the rollback submitted v3's template text, byte for byte
    assert history_file.exists()
    cfn = boto3.client("cloudformation", region_name="us-west-2")
    deployed = cfn.get_template(StackName=stack)["TemplateBody"]
    assert json.loads(json.dumps(deployed)) == json.loads(texts[0])

    # History shows all three.
    rows = _records("dev", stack)
    assert [(r["kind"], r["outcome"], r["version"]) for r in rows] == [
        ("deploy", "succeeded", 3),
        ("deploy", "succeeded", 4),
        ("rollback", "succeeded", 3),
    ]
    assert first["who"].startswith("arn:aws:") and rows[0]["model"] == "flow-generation"
    text = _run("history", "flow-generation", "--env", "dev")
    assert text.exit_code == 0 and text.stdout.count("llmdeploy-dev-model-flow-generation") == 3


def test_history_in_s3(aws, portfolio):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-llmdeploy-history")
    result = _run("deploy", "--env", "prod", "--no-verify", "-o", "json", "summarizer-inf2")
    assert result.exit_code == 0, result.output
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="acme-llmdeploy-history")["Contents"]]
    assert len(keys) == 2 and all(k.startswith("prod/prod/llm-prod-") for k in keys)
    # No history written locally (the synth cache is: .llmdeploy/synth-cache).
    assert not (portfolio / ".llmdeploy/history").exists()
    assert not (portfolio / ".llmdeploy/pending").exists()
    # Each record carries the fingerprint of its template's inputs (old records have none).
    for key in keys:
        body = s3.get_object(Bucket="acme-llmdeploy-history", Key=key)["Body"].read()
        assert json.loads(body)["fingerprint"].startswith("sha256:")
    rows = _records("prod")
    assert {r["stack"] for r in rows} == {
        "llm-prod-endpoint-neuron-inf2",
        "llm-prod-model-summarizer-inf2",
    }


def test_a_second_deploy_changes_nothing(aws, portfolio):
    assert _run("deploy", "--env", "dev", "--no-verify", "text-evaluation").exit_code == 0
    result = _run("deploy", "--env", "dev", "--no-verify", "-o", "json", "text-evaluation")
    assert {s["outcome"] for s in json.loads(result.stdout)["stacks"]} == {"unchanged"}
    diff = _run("diff", "--env", "dev", "--exit-code", "text-evaluation")
    assert diff.exit_code == 0 and "unchanged" in diff.stdout


def test_a_content_change_without_a_version_bump_is_a_warning(aws, portfolio):
    assert _run("deploy", "--env", "dev", "--no-verify", "sql-generation").exit_code == 0
    spec = portfolio / "models" / "sql-generation.yaml"
    spec.write_text(spec.read_text().replace("jobQueueSize: 64", "jobQueueSize: 128"))
    result = _run("diff", "--env", "dev", "sql-generation")
    assert result.exit_code == 0
    assert "spec.lmi.jobQueueSize: 64 → 128" in result.stdout
    assert "metadata.version is still 2" in result.stdout


def test_wrong_account_is_refused_before_anything_changes(aws, portfolio):
    env = portfolio / "infra" / "dev.yaml"
    env.write_text(env.read_text().replace("123456789012", "999999999999"))
    result = _run("deploy", "--env", "dev")
    assert result.exit_code == 1
    assert "credentials are for account 123456789012" in result.stderr
    cfn = boto3.client("cloudformation", region_name="us-west-2")
    assert cfn.describe_stacks()["Stacks"] == []


def test_a_failing_stack_fails_alone_and_is_recorded(aws, portfolio):
    # Someone already created the log group the neuron endpoint's stack creates.
    logs = boto3.client("logs", region_name="us-west-2")
    logs.create_log_group(logGroupName="/aws/sagemaker/Endpoints/llmdeploy-dev-neuron-inf2")
    result = _run("deploy", "--env", "dev", "--no-verify", "-o", "json")
    assert result.exit_code == 1
    outcomes = {s["stack"]: s for s in json.loads(result.stdout)["stacks"]}
    assert outcomes["llmdeploy-dev-endpoint-neuron-inf2"]["outcome"] == "failed"
    assert outcomes["llmdeploy-dev-endpoint-neuron-inf2"]["reason"]
    assert outcomes["llmdeploy-dev-model-summarizer-inf2"]["outcome"] == "skipped"
    assert outcomes["llmdeploy-dev-model-flow-generation"]["outcome"] == "deployed"
    failures = [r for r in _records("dev") if r["outcome"] == "failed"]
    assert [r["stack"] for r in failures] == ["llmdeploy-dev-endpoint-neuron-inf2"]


def test_status_reports_what_it_cannot_read_without_a_traceback(aws, portfolio, monkeypatch):
    # SageMaker unreachable (CloudFormation, STS and S3 still answer): status says so cleanly.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")
    result = _run("status", "--env", "dev")
    assert result.exit_code == 1
    assert "cannot read the live state from SageMaker" in result.stderr
    assert "Traceback" not in result.output


def test_status_shows_what_runs(aws, portfolio):
    assert _run("deploy", "--env", "dev", "flow-generation").exit_code == 0
    result = _run("status", "--env", "dev")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(
        "llmdeploy-dev-flow-generation" in x and "InService" in x and "copies 1/1" in x
        for x in lines
    )
    assert any("llmdeploy-dev-sql-generation" in x and "not deployed" in x for x in lines)


def test_endpoints_deploy_before_their_models_with_high_concurrency(aws, portfolio):
    result = _run("deploy", "--env", "dev", "--no-verify", "--concurrency", "8")
    assert result.exit_code == 0, result.output
    rows = _records("dev")
    when = {r["stack"]: r["when"] for r in rows}
    assert len(when) == 12  # 11 stacks of endpoints and models, and the dashboards
    homes = {
        "codegen-g6": [
            "block-generation",
            "flow-generation",
            "inline-completion",
            "sql-generation",
            "text-evaluation",
        ],
        "reasoning-p5en": ["agent-planner"],
        "neuron-inf2": ["summarizer-inf2"],
    }
    for endpoint, models in homes.items():
        for model in models:
            assert when[f"llmdeploy-dev-model-{model}"] > when[f"llmdeploy-dev-endpoint-{endpoint}"]


def test_diff_of_a_new_environment_leaves_nothing_behind(aws, portfolio):
    result = _run("diff", "--env", "dev", "-o", "json", "text-evaluation")
    assert result.exit_code == 0, result.output
    stacks = json.loads(result.stdout)["stacks"]
    assert {s["status"] for s in stacks} == {"new"}
    model = next(s for s in stacks if "model" in s["stack"])
    assert {(r["action"], r["resource_type"]) for r in model["resources"]} >= {
        ("Add", "AWS::SageMaker::InferenceComponent"),
        ("Add", "AWS::SageMaker::Model"),
    }
    cfn = boto3.client("cloudformation", region_name="us-west-2")
    assert cfn.describe_stacks()["Stacks"] == []  # no change set, no REVIEW_IN_PROGRESS stack


def test_history_of_an_unknown_model(aws, portfolio):
    result = _run("history", "nope", "--env", "dev")
    assert result.exit_code == 1 and "no model 'nope' in environment 'dev'" in result.stderr


def test_records_without_a_fingerprint_still_read_and_a_wrong_one_is_damage(tmp_path):
    from dataclasses import asdict

    from llmdeploy.deploy.history import DamagedRecord, LocalHistory, Record, _decode

    record = Record.new(
        environment="dev",
        stack="s",
        kind="deploy",
        outcome="succeeded",
        who="me",
        template="{}",
        spec={},
        spec_text="",
        fingerprint="sha256:" + "0" * 64,
    )
    old = asdict(record)
    del old["fingerprint"]  # written before records carried one
    path = tmp_path / "dev" / "s" / "2020-old.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    (read,) = LocalHistory(tmp_path).list("dev", "s")
    assert read.fingerprint is None and read.digest == record.digest
    bad = json.dumps(asdict(record) | {"fingerprint": 7}).encode()
    with pytest.raises(DamagedRecord, match="field 'fingerprint' is 7"):
        _decode(bad, "x.json", "dev", "s")
