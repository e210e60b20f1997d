"""`llmdeploy init` and `llmdeploy cdk-app`: a portfolio repository of its own, whose
`cdk.json` runs the installed package, never a path into a virtualenv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import REPO
from llmdeploy.cli.main import app
from llmdeploy.scaffold import CDK_CLI_VERSION

runner = CliRunner()
CDK_CLI = REPO / "node_modules" / ".bin" / "cdk"
# The console scripts of the installed package (llmdeploy), as an activated virtualenv has.
SCRIPTS = str(Path(sys.executable).parent)


def _init(target: Path, *args: str):
    return runner.invoke(app, ["init", str(target), *args])


def test_init_then_validate_and_plan_pass_in_an_empty_folder(tmp_path, monkeypatch):
    result = _init(tmp_path / "repo")
    assert result.exit_code == 0, result.output
    root = tmp_path / "repo"
    for rel in (
        "infra/dev.yaml",
        "models/example-chat.yaml",
        "cdk.json",
        ".gitignore",
        ".github/workflows/llmdeploy.yml",
        ".vscode/settings.json",
        "schemas/model.schema.json",
        "schemas/environment.schema.json",
        "package.json",
    ):
        assert (root / rel).is_file(), rel
        assert not re.search(r"__[A-Z_]+__", (root / rel).read_text()), rel  # all filled in
    monkeypatch.chdir(root)
    valid = runner.invoke(app, ["validate", "--strict"])
    assert valid.exit_code == 0, valid.output
    assert "1 model(s) in 1 environment(s) (dev)" in valid.stdout
    plan = runner.invoke(app, ["plan", "-o", "json"])
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["environments"][0]["name"] == "dev"


def test_cdk_json_runs_the_package_entry_point(tmp_path):
    _init(tmp_path)
    cdk = json.loads((tmp_path / "cdk.json").read_text())
    assert cdk["app"] == "llmdeploy cdk-app"
    assert ".venv" not in json.dumps(cdk)
    assert json.loads((REPO / "cdk.json").read_text())["app"] == "llmdeploy cdk-app"
    # The editor mapping points at the schemas init wrote.
    mapping = json.loads((tmp_path / ".vscode/settings.json").read_text())["yaml.schemas"]
    assert all((tmp_path / p).is_file() for p in mapping)
    # The CI example validates, plans, diffs with --exit-code and deploys on merge.
    workflow = yaml.safe_load((tmp_path / ".github/workflows/llmdeploy.yml").read_text())
    steps = " ".join(s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"])
    for command in ("llmdeploy validate", "llmdeploy plan", "--exit-code", "llmdeploy deploy"):
        assert command in steps


def test_the_cdk_cli_version_is_the_one_this_project_tests_with():
    ours = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert ours == CDK_CLI_VERSION


def test_options_fill_the_environment(tmp_path, monkeypatch):
    result = _init(
        tmp_path, "--env", "staging", "--account", "123456789012", "--region", "eu-west-1"
    )
    assert result.exit_code == 0, result.output
    env = yaml.safe_load((tmp_path / "infra/staging.yaml").read_text())
    assert env["metadata"]["name"] == "staging"
    assert env["spec"]["account"] == "123456789012" and env["spec"]["region"] == "eu-west-1"
    assert "set your AWS account" not in result.stdout  # given: no placeholder to replace
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["validate", "--strict", "--env", "staging"]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--env", "Dev"], "--env 'Dev': an environment name is lower-case"),
        (["--account", "12345"], "--account '12345': give the 12-digit AWS account id"),
        (["--region", "mars"], "--region 'mars': give an AWS region"),
    ],
)
def test_bad_values_exit_1_and_write_nothing(tmp_path, args, needle):
    result = _init(tmp_path / "repo", *args)
    assert result.exit_code == 1
    assert needle in result.stderr
    assert not (tmp_path / "repo").exists()


def test_a_folder_with_files_is_refused_without_force(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = _init(tmp_path)
    assert result.exit_code == 1
    assert "is not empty (notes.txt)" in result.stderr and "--force" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_force_adds_missing_files_and_never_overwrites(tmp_path):
    (tmp_path / "infra").mkdir()
    mine = "# my own environment\n"
    (tmp_path / "infra/dev.yaml").write_text(mine)
    result = _init(tmp_path, "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "infra/dev.yaml").read_text() == mine
    assert "kept     infra/dev.yaml  (exists: not overwritten)" in result.stdout
    assert "created  models/example-chat.yaml" in result.stdout
    again = runner.invoke(app, ["init", str(tmp_path), "--force", "-o", "json"])
    actions = {f["path"]: f["action"] for f in json.loads(again.stdout)["files"]}
    assert set(actions.values()) == {"kept"}  # a second run changes nothing


def test_a_fresh_git_repository_and_its_virtualenv_count_as_empty(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".venv").mkdir()
    assert _init(tmp_path).exit_code == 0


def test_a_file_as_the_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    result = _init(tmp_path / "f")
    assert result.exit_code == 1 and "not a folder" in result.stderr


def test_cdk_app_without_an_environment_says_how(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDK_CONTEXT_JSON", raising=False)
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path / "out"))
    result = runner.invoke(app, ["cdk-app"])
    assert result.exit_code == 1
    assert "npx cdk synth -c env=<name>" in result.stderr


@pytest.mark.skipif(not CDK_CLI.exists(), reason="the CDK CLI is installed by `npm ci` (README)")
def test_the_cdk_cli_synthesizes_a_new_repository(tmp_path):
    _init(tmp_path)
    env = {**os.environ, "PATH": SCRIPTS + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        [str(CDK_CLI), "synth", "-c", "env=dev", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    templates = sorted(p.name for p in (tmp_path / "cdk.out").glob("*.template.json"))
    assert {
        "llmdeploy-dev-endpoint-shared-g6.template.json",
        "llmdeploy-dev-model-example-chat.template.json",
    } <= set(templates)
    model = json.loads(
        (tmp_path / "cdk.out" / "llmdeploy-dev-model-example-chat.template.json").read_text()
    )
    (m,) = [r for r in model["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    # Both sources given: the endpoint loads the staged copy in S3 (network isolation).
    assert m["Properties"]["PrimaryContainer"]["Environment"]["OPTION_MODEL_ID"] == "/opt/ml/model"
