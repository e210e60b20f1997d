"""`llmdeploy plan --baseline FILE` as a user runs it: savings per environment, and a bad file
is a located error (exit 1, JSON under -o json), never a traceback."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from conftest import REPO
from llmdeploy.cli.main import app

runner = CliRunner()
EXAMPLE = str(REPO / "examples/baseline.yaml")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_text_shows_the_saving_on_the_example_portfolio():
    result = runner.invoke(app, ["plan", "--env", "prod", "--baseline", EXAMPLE])
    assert result.exit_code == 0, result.output
    out = result.stdout
    section = out.split("Migration from the baseline", 1)[1]
    assert "environment prod" in section
    assert "1 × ml.p4d.24xlarge · 24 h/day" in section and "$27,512" in section
    assert "Baseline today: $220,098 per month (8 models)" in section
    assert "6 of 8 models, on both sides" in section
    assert "baseline ÷ plan" in section and "6.89×" in section  # initial copies
    assert "left out of both sides: agent-planner: no price for ml.p5en.48xlarge" in section


def test_json_has_a_baseline_object_per_environment():
    result = runner.invoke(app, ["plan", "-o", "json", "--baseline", EXAMPLE])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for env in report["environments"]:
        b = env["baseline"]
        assert b["environment"] == env["name"] and b["file"] == EXAMPLE
        assert set(b["ratio"]) == set(env["monthly_usd"])  # every figure the plan has
        for p, ratio in b["ratio"].items():
            plan = b["compared_plan_usd"][p]
            assert b["saving_usd"][p] == pytest.approx(b["compared_baseline_usd"] - plan)
            assert (
                ratio is None
                if plan == 0
                else ratio == pytest.approx(b["compared_baseline_usd"] / plan)
            )
        assert {m["model"] for m in b["models"]} >= set(b["compared"])
        assert not [k for k in _keys(b) if not re.fullmatch("[a-z][a-z0-9_]*", k)]
    plain = json.loads(runner.invoke(app, ["plan", "-o", "json"]).stdout)
    assert all(env["baseline"] is None for env in plain["environments"])


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def test_partial_coverage_is_stated(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text(
        "apiVersion: llmdeploy/v1\nkind: Baseline\nhosting:\n"
        "  - {model: block-generation, instanceType: ml.g5.12xlarge, instances: 2, "
        "hoursPerDay: 12}\n"
    )
    result = runner.invoke(app, ["plan", "--env", "prod", "--baseline", str(path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1 of 8 models, on both sides" in out
    assert "not in the baseline (new: left out of both sides): agent-planner" in out
    assert "plan side: shared with models not compared: codegen-g6" in out
    assert "2 × ml.g5.12xlarge · 12 h/day" in out


def test_an_unknown_price_is_shown_as_unknown(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(
        "model,instanceType,instances\nblock-generation,ml.p5en.48xlarge,1\n"
        "sql-generation,ml.p4d.24xlarge,1\n"
    )
    result = runner.invoke(app, ["plan", "--env", "prod", "--baseline", str(path)])
    assert result.exit_code == 0, result.output
    assert "Baseline today: unknown per month (2 models); no price for ml.p5en.48xlarge" in (
        result.stdout
    )
    assert "left out of both sides: block-generation: no price for ml.p5en.48xlarge (today)" in (
        result.stdout
    )


BAD = [
    (
        "{model: blockgen, instanceType: ml.p4d.24xlarge, instances: 1}",
        "hosting[0].model",
        '"blockgen"',
        "did you mean 'block-generation'?",
    ),
    (
        "{model: block-generation, instanceType: ml.p4.24xlarge, instances: 1}",
        "hosting[0].instanceType",
        '"ml.p4.24xlarge"',
        "did you mean 'ml.p4d.24xlarge'?",
    ),
    (
        "{model: block-generation, instanceType: ml.p4d.24xlarge, instances: 0}",
        "hosting[0].instances",
        "0",
        "write how many instances run",
    ),
]


@pytest.mark.parametrize("entry,path,value,fix", BAD, ids=[b[1] for b in BAD])
def test_a_bad_entry_exits_1_with_file_line_field_value_and_fix(tmp_path, entry, path, value, fix):
    file = tmp_path / "b.yaml"
    file.write_text(f"apiVersion: llmdeploy/v1\nkind: Baseline\nhosting:\n  - {entry}\n")
    result = runner.invoke(app, ["plan", "--baseline", str(file)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # an exit, not a crash
    assert f"{file}:4:" in result.stderr
    assert f"{path} = {value}" in result.stderr and f"fix: {fix}" in result.stderr
    assert "Traceback" not in result.output
    assert "Migration" not in result.stdout


def test_duplicates_exit_1(tmp_path):
    file = tmp_path / "b.yaml"
    file.write_text(
        "apiVersion: llmdeploy/v1\nkind: Baseline\nhosting:\n"
        "  - {model: sql-generation, instanceType: ml.p4d.24xlarge, instances: 1}\n"
        "  - {model: sql-generation, instanceType: ml.p4d.24xlarge, instances: 1}\n"
    )
    result = runner.invoke(app, ["plan", "--baseline", str(file)])
    assert result.exit_code == 1
    assert f"{file}:5:" in result.stderr and "listed twice" in result.stderr


def test_json_errors_are_json_with_every_diagnostic(tmp_path):
    file = tmp_path / "b.yaml"
    file.write_text(
        "apiVersion: llmdeploy/v1\nkind: Baseline\nhosting:\n"
        "  - {model: blockgen, instanceType: ml.p4d.24xlarge, instances: -1}\n"
    )
    result = runner.invoke(app, ["plan", "-o", "json", "--baseline", str(file)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["error"] == f"2 error(s) in the baseline {file}"
    [model, count] = report["diagnostics"]
    assert (model["line"], model["path"], model["value"]) == (4, "hosting[0].model", "blockgen")
    assert model["fix"] == "did you mean 'block-generation'?"
    assert (count["path"], count["value"]) == ("hosting[0].instances", -1)


def test_a_missing_file_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["plan", "-o", "json", "--baseline", str(tmp_path / "no.yaml")])
    assert result.exit_code == 1
    assert "--baseline" in json.loads(result.stdout)["error"]
