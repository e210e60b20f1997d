"""diff and deploy skip reading back a stack that the history and CloudFormation agree is
unchanged (deploy/unchanged.py), and never one changed outside llmdeploy since."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from llmdeploy.cli.main import app
from llmdeploy.deploy import actions, engine
from llmdeploy.deploy.actions import StackInfo
from llmdeploy.deploy.history import Record, Scan
from llmdeploy.deploy.unchanged import as_recorded

runner = CliRunner()
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FP = "sha256:" + "1" * 64


def _record(when: str = "2026-01-01T12:00:05.000000Z", **changes) -> Record:
    fields = dict(
        environment="dev",
        stack="s",
        kind="deploy",
        outcome="succeeded",
        who="me",
        template='{"Resources": {}}',
        spec={},
        spec_text="",
        change_set="cs-1",
        fingerprint=FP,
    )
    record = Record.new(**(fields | changes))
    return Record(**(record.__dict__ | {"when": when}))


def _info(**changes) -> StackInfo:
    fields = dict(name="s", status="UPDATE_COMPLETE", changed_at=T0, change_set="cs-1")
    return StackInfo(**(fields | changes))


@pytest.mark.parametrize(
    "info, records, damaged, template, fingerprint, expected",
    [
        (_info(), [_record()], [], '{"Resources": {}}', FP, True),
        (_info(status="CREATE_COMPLETE", change_set=None), [_record()], [], None, FP, True),
        # Inputs differ: a new fingerprint, another template (even one parsing the same).
        (_info(), [_record()], [], None, "sha256:" + "2" * 64, False),
        (_info(), [_record()], [], '{"Resources":{}}', FP, False),
        (_info(), [_record()], [], None, None, False),
        (_info(), [_record(fingerprint=None)], [], None, FP, False),
        # CloudFormation says something happened since.
        (_info(changed_at=T0 + timedelta(seconds=6)), [_record()], [], None, FP, False),
        (_info(change_set="cs-2"), [_record()], [], None, FP, False),
        (_info(status="UPDATE_ROLLBACK_COMPLETE"), [_record()], [], None, FP, False),
        (_info(status="UPDATE_IN_PROGRESS"), [_record()], [], None, FP, False),
        (_info(changed_at=None), [_record()], [], None, FP, False),
        (None, [_record()], [], None, FP, False),
        # The history cannot vouch: no success, or a damaged record of the stack.
        (_info(), [], [], None, FP, False),
        (_info(), [_record(outcome="failed")], [], None, FP, False),
        (_info(), [_record()], ["dev/s/x.json: damaged"], None, FP, False),
        (_info(), [_record(), _record(outcome="failed")], [], None, FP, True),
        # A record dated in the future vouches for nothing (it would cover any change).
        (_info(), [_record(when="2026-01-02T12:00:05.000000Z")], [], None, FP, False),
        (_info(), [_record(when="2026-01-01T12:04:00.000000Z")], [], None, FP, True),
    ],
)
def test_what_counts_as_unchanged_without_reading_the_template(
    info, records, damaged, template, fingerprint, expected
):
    template = template or '{"Resources": {}}'
    now = T0 + timedelta(seconds=30)  # the clock of the run that reads the records
    assert as_recorded(info, Scan(records, damaged), template, fingerprint, now=now) is expected


def _run(*args: str):
    return runner.invoke(app, [*args, "--specs", "models", "--specs", "infra"])


def _diff(*extra: str) -> dict[str, str]:
    result = _run("diff", "--env", "dev", "-o", "json", *extra)
    assert result.exit_code == 0, result.output
    return {d["stack"]: d["status"] for d in json.loads(result.stdout)["stacks"]}


def test_diff_and_deploy_read_back_only_what_changed_and_never_hide_drift(
    aws, portfolio: Path, monkeypatch
):
    monkeypatch.setattr(engine, "BULK_DESCRIBE", 2)  # the examples have 12 stacks
    read: list[str] = []
    described: list[str] = []
    original_template, original_info = actions.deployed_template, actions.stack_info

    def deployed_template(cfn, stack):
        read.append(stack)
        return original_template(cfn, stack)

    def stack_info(cfn, stack):
        described.append(stack)
        return original_info(cfn, stack)

    monkeypatch.setattr(actions, "deployed_template", deployed_template)
    monkeypatch.setattr(actions, "stack_info", stack_info)
    result = _run("deploy", "--env", "dev", "--no-verify", "-o", "json")
    assert result.exit_code == 0, result.output

    # Nothing changed: no template read back, no stack described one by one.
    read.clear(), described.clear()
    assert set(_diff().values()) == {"unchanged"} and read == [] and described == []

    # One model changed: only its stack is read and compared.
    spec = portfolio / "models" / "flow-generation.yaml"
    spec.write_text(spec.read_text().replace("maxRollingBatchSize: 16", "maxRollingBatchSize: 32"))
    flow = "llmdeploy-dev-model-flow-generation"
    statuses = _diff()
    assert statuses[flow] == "changed" and read == [flow]
    assert {s for s, v in statuses.items() if v != "unchanged"} == {flow}

    # Deploy reads afresh only that stack; the others are unchanged without a call.
    read.clear()
    result = _run("deploy", "--env", "dev", "--no-verify", "-o", "json")
    assert result.exit_code == 0, result.output
    outcomes = {s["stack"]: s["outcome"] for s in json.loads(result.stdout)["stacks"]}
    assert outcomes[flow] == "deployed" and read == [flow] and set(described) == {flow}
    assert {o for s, o in outcomes.items() if s != flow} == {"unchanged"}

    # Someone changes a stack outside llmdeploy: diff reads it back and shows the change.
    cfn = boto3.client("cloudformation", region_name="us-west-2")
    drifted = "llmdeploy-dev-model-text-evaluation"
    live = cfn.get_template(StackName=drifted)["TemplateBody"]
    component = next(
        r for r in live["Resources"].values() if r["Type"] == "AWS::SageMaker::InferenceComponent"
    )
    component["Properties"]["Specification"]["StartupParameters"] = {
        "ModelDataDownloadTimeoutInSeconds": 61,
        "ContainerStartupHealthCheckTimeoutInSeconds": 61,
    }
    cfn.update_stack(
        StackName=drifted,
        TemplateBody=json.dumps(live),
        Parameters=[{"ParameterKey": "CopyCount", "UsePreviousValue": True}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    read.clear()
    assert _diff()[drifted] == "changed" and read == [drifted]

    # A record edited by hand (its digest no longer matches) vouches for nothing.
    endpoint = next(s for s in outcomes if "-endpoint-" in s)
    folder = portfolio / ".llmdeploy/history/dev" / endpoint
    path = sorted(folder.glob("*.json"))[-1]
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(doc | {"template": doc["template"] + " "}))
    read.clear()
    assert _diff()[endpoint] == "unchanged" and sorted(read) == sorted([drifted, endpoint])

    # --no-cache trusts nothing stored: every stack is read back.
    read.clear()
    statuses = _diff("--no-cache", "--jobs", "1")
    assert sorted(read) == sorted(statuses)
