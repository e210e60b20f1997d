"""Rollback against the local server: a tampered record is refused before anything is
deployed; a sound one is shown and asked about."""

from __future__ import annotations

import json

import boto3
import yaml
from typer.testing import CliRunner

from llmdeploy.cli.main import app
from llmdeploy.deploy.history import template_digest

runner = CliRunner()
STACK = "llmdeploy-dev-model-flow-generation"


def _run(*args: str):
    return runner.invoke(app, [*args, "--specs", "models", "--specs", "infra"])


def _two_versions(portfolio):
    assert _run("deploy", "--env", "dev", "flow-generation").exit_code == 0
    spec = portfolio / "models" / "flow-generation.yaml"
    spec.write_text(
        spec.read_text()
        .replace("maxRollingBatchSize: 16", "maxRollingBatchSize: 32")
        .replace("version: 3", "version: 4")
    )
    assert _run("deploy", "--env", "dev", "flow-generation").exit_code == 0
    return sorted((portfolio / ".llmdeploy/history/dev" / STACK).glob("*.json"))


def test_a_record_with_an_admin_user_added_is_refused_and_nothing_deploys(aws, portfolio):
    first, _ = _two_versions(portfolio)
    record = json.loads(first.read_text())
    template = json.loads(record["template"])
    template["Resources"]["Backdoor"] = {
        "Type": "AWS::IAM::User",
        "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
    }
    record["template"] = json.dumps(template)
    record["digest"] = template_digest(record["template"])  # a careful attacker
    first.write_text(json.dumps(record))

    result = _run("rollback", "flow-generation", "--env", "dev", "--yes")
    assert result.exit_code == 1
    assert "refusing record" in result.output and "version 3" in result.output
    assert "resource Backdoor (AWS::IAM::User) is not one llmdeploy creates" in result.output
    assert "Traceback" not in result.output
    iam = boto3.client("iam", region_name="us-west-2")
    assert iam.list_users()["Users"] == []
    cfn = boto3.client("cloudformation", region_name="us-west-2")
    deployed = cfn.get_template(StackName=STACK)["TemplateBody"]
    assert "Backdoor" not in deployed["Resources"]


def test_a_record_edited_without_its_digest_is_damaged(aws, portfolio):
    first, _ = _two_versions(portfolio)
    record = json.loads(first.read_text())
    record["template"] = record["template"].replace("flow", "flaw")
    first.write_text(json.dumps(record))
    result = _run("rollback", "flow-generation", "--env", "dev", "--yes")
    assert result.exit_code == 1
    assert "does not match its digest" in result.output
    history = _run("history", "--env", "dev")
    assert history.exit_code == 0 and "warning: history record" in history.stderr


def test_a_sound_rollback_lists_its_changes_and_needs_yes_without_a_terminal(aws, portfolio):
    _two_versions(portfolio)
    refused = _run("rollback", "flow-generation", "--env", "dev")
    assert refused.exit_code == 1
    assert "pass --yes to allow it" in refused.output and "MODIFY" in refused.output
    done = _run("rollback", "flow-generation", "--env", "dev", "--yes", "-o", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["version"] == 3


def test_a_record_holds_only_its_own_environments_spec(aws, portfolio):
    # Another environment's overrides are not this record's to keep (whatever they hold:
    # validate refuses a token anywhere in a spec file, but a record must not rely on it).
    spec = portfolio / "models" / "text-evaluation.yaml"
    marker = "prod-only-endpoint-override-4242"
    text = spec.read_text()
    assert "environments:" not in text
    spec.write_text(
        text + f"  environments:\n    prod:\n      lmi:\n        extraEnv: {{NOTE: {marker}}}\n"
    )
    assert _run("deploy", "--env", "dev", "text-evaluation").exit_code == 0
    records = list((portfolio / ".llmdeploy/history/dev").glob("*/*.json"))
    assert records and all(marker not in p.read_text() for p in records)
    (record,) = [json.loads(p.read_text()) for p in records if "text-evaluation" in p.parent.name]
    assert "environments" not in record["spec"]["spec"]
    assert "prod" not in record["spec_text"]
    # The record's text is this environment's resolved spec, as YAML (made when recorded).
    assert yaml.safe_load(record["spec_text"]) == record["spec"]
