"""What a CLI user sees around the work: progress lines in CI, no stale templates in the
output folder, and the commands that need no AWS working without credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmdeploy.cli.main import app
from llmdeploy.deploy.history import LocalHistory, Record

runner = CliRunner()
LLMDEPLOY = Path(sys.executable).parent / "llmdeploy"


def _without_credentials(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "LLMDEPLOY_DEBUG"
    }
    # No credentials anywhere in the chain: files, environment, instance metadata.
    return env | {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_COLOR": "1",
    }


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LLMDEPLOY), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _record(stack: str, version: int) -> Record:
    return Record.new(
        environment="dev",
        stack=stack,
        kind="deploy",
        outcome="succeeded",
        who="arn:aws:iam::444455556666:user/alice",
        template=json.dumps({"Resources": {}}),
        spec={"metadata": {"version": version}},
        spec_text="",
        model="flow-generation",
        version=version,
    )


def test_history_and_status_read_a_local_history_without_credentials(portfolio, tmp_path):
    store = LocalHistory(portfolio / ".llmdeploy/history")
    store.append(_record("llmdeploy-dev-model-flow-generation", 3))
    env = _without_credentials(tmp_path)

    history = _run(["history", "--env", "dev"], portfolio, env)
    assert history.returncode == 0, history.stderr
    assert "llmdeploy-dev-model-flow-generation" in history.stdout and "v3" in history.stdout
    as_json = json.loads(_run(["history", "--env", "dev", "-o", "json"], portfolio, env).stdout)
    assert [r["version"] for r in as_json] == [3]

    status = _run(["status", "--env", "dev", "-o", "json"], portfolio, env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["live"] is False and "no AWS credentials" in report["live_unavailable"]
    by_stack = {s["stack"]: s for s in report["stacks"]}
    flow = by_stack["llmdeploy-dev-model-flow-generation"]
    assert flow["deployed_version"] == 3 and flow["deployed_by"].endswith("user/alice")
    assert by_stack["llmdeploy-dev-endpoint-codegen-g6"]["deployed_when"] is None
    text = _run(["status", "--env", "dev"], portfolio, env)
    assert "live state unavailable: no AWS credentials" in text.stderr
    assert "never (on record)" in text.stdout


def test_changing_commands_still_need_credentials(portfolio, tmp_path):
    result = _run(["diff", "--env", "dev"], portfolio, _without_credentials(tmp_path))
    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr and "Traceback" not in result.stderr


def test_synth_removes_templates_it_did_not_write_and_says_so(tmp_path, monkeypatch, portfolio):
    out = tmp_path / "out"
    first = runner.invoke(app, ["synth", "--env", "dev", "--out-dir", str(out)])
    assert first.exit_code == 0, first.output
    assert (out / "llmdeploy-dev-model-sql-generation.template.json").exists()
    (out / "notes.txt").write_text("mine")  # not CDK's: never touched

    second = runner.invoke(
        app, ["synth", "--env", "dev", "--out-dir", str(out), "-o", "json", "text-evaluation"]
    )
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    left = sorted(p.name for p in out.glob("*.template.json"))
    assert left == sorted(Path(s["template"]).name for s in report["stacks"])
    assert str(out / "llmdeploy-dev-model-sql-generation.template.json") in report["removed"]
    assert not (out / "llmdeploy-dev-model-sql-generation.metadata.json").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_synth_reports_progress_as_plain_lines_when_not_a_terminal(portfolio, tmp_path):
    result = _run(
        ["synth", "--env", "dev", "--out-dir", str(tmp_path / "o"), "text-evaluation"],
        portfolio,
        {**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    # In this process ("synthesizing 2 stacks") or in the worker started ahead ("building
    # and synthesizing 2 stacks in a worker process"), with the time since the start.
    assert any(
        line.startswith("synth dev: ") and "synthesizing 2 stacks" in line and line.endswith("s)")
        for line in lines
    ), lines
    assert "\x1b[" not in result.stderr


@pytest.mark.parametrize("env_name", ["dev"])
def test_plan_spells_units_and_says_when_dedicated_is_cheaper(tmp_path, monkeypatch, env_name):
    runner.invoke(app, ["init", str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plan", "--suggest", "--env", env_name])
    assert result.exit_code == 0, result.output
    assert "1 GPU · 32 GiB" in result.stdout and " dev ·" not in result.stdout
    assert "dedicated hosting is cheaper at initial copies" in result.stdout
    assert "example-chat on 1 × ml.g6." in result.stdout
    assert "nothing cheaper found" not in result.stdout
    tips = json.loads(runner.invoke(app, ["plan", "--suggest", "-o", "json"]).stdout)
    kinds = {s["kind"] for s in tips["environments"][0]["suggestions"]}
    assert "dedicated" in kinds


def test_plan_never_cuts_the_longest_model_name(tmp_path, monkeypatch):
    runner.invoke(app, ["init", str(tmp_path)])
    model = tmp_path / "models/example-chat.yaml"
    long_name = "a-long-model-name-that-goes-on-for-49-characters1"
    model.write_text(model.read_text().replace("name: example-chat", f"name: {long_name}"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 0, result.output
    assert long_name in result.stdout


def test_diff_reports_synthesis_and_comparison_progress_on_stderr(aws, portfolio):
    result = runner.invoke(app, ["diff", "--env", "dev", "text-evaluation"])
    assert result.exit_code == 0, result.output
    assert "synth: " in result.stderr and "synthesizing 2 stacks" in result.stderr
    assert "progress: 2/2 stacks compared" in result.stderr  # the model and its endpoint
    assert "progress:" not in result.stdout  # stdout is the report


@pytest.mark.parametrize("command", [["history", "--env", "dev"], ["status", "--env", "dev"]])
def test_history_and_status_never_start_cdk(portfolio, tmp_path, command):
    # aws_cdk starts a Node.js process (jsii) and costs seconds: reading records needs none.
    code = (
        "import sys\n"
        "from llmdeploy.cli.main import app\n"
        "try:\n"
        f"    app({command!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('CDK' if 'aws_cdk' in sys.modules or 'jsii' in sys.modules else 'no CDK')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=portfolio,
        env=_without_credentials(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1] == "no CDK", result.stdout + result.stderr
