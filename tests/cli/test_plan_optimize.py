"""`llmdeploy plan --optimize` and `--apply` as a user runs them."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from conftest import REPO
from llmdeploy.cli.main import app

runner = CliRunner()


def _copy_examples(tmp_path):
    for folder in ("models", "infra", "schemas"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return ["--specs", str(tmp_path / "models"), "--specs", str(tmp_path / "infra")]


def test_optimize_prints_the_layout_its_cost_and_the_bound(monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["plan", "--env", "prod", "--optimize"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Optimized layout for prod" in out
    assert "lower bound (expected)" in out and "the layout is within" in out
    assert "current layout" in out and "each model dedicated" in out and "optimized" in out
    assert "prices unknown for ml.p5en.48xlarge" in out  # the current layout's part
    assert "--optimize --apply" in out


def test_optimize_json_has_every_figure(monkeypatch):
    monkeypatch.chdir(REPO)
    plain = json.loads(runner.invoke(app, ["plan", "-o", "json"]).stdout)
    assert all(e["optimized"] is None for e in plain["environments"])
    result = runner.invoke(app, ["plan", "--env", "prod", "--optimize", "-o", "json"])
    assert result.exit_code == 0, result.output
    (prod,) = json.loads(result.stdout)["environments"]
    o = prod["optimized"]
    assert set(o["monthly_usd"]) == {"min", "initial", "max", "expected"}
    assert o["lower_bound_usd"] <= o["monthly_usd"]["expected"] + 0.01
    assert o["applied"] is None
    assert set(prod["monthly_usd"]) == {"min", "initial", "max", "expected"}
    for p in o["placements"]:
        assert p["kind"] in ("shared", "dedicated")


def test_apply_writes_the_layout_keeps_comments_and_passes_validate(tmp_path):
    specs = _copy_examples(tmp_path)
    result = runner.invoke(app, ["plan", *specs, "--env", "prod", "--apply"])
    assert result.exit_code == 0, result.output
    assert "--- " in result.stderr and "+++ " in result.stderr  # the diff, first
    assert "Applied:" in result.stdout
    infra = (tmp_path / "infra/prod.yaml").read_text()
    assert "# Warm models need one instance when idle" in infra  # comments kept
    assert infra != (REPO / "infra/prod.yaml").read_text()
    # Changes for prod live in prod's overrides: dev keeps its layout.
    assert runner.invoke(app, ["validate", *specs]).exit_code == 0
    dev_before = json.loads(
        runner.invoke(
            app,
            [
                "plan",
                "--specs",
                str(REPO / "models"),
                "--specs",
                str(REPO / "infra"),
                "--env",
                "dev",
                "-o",
                "json",
            ],
        ).stdout
    )["environments"][0]["monthly_usd"]
    dev_after = json.loads(
        runner.invoke(app, ["plan", *specs, "--env", "dev", "-o", "json"]).stdout
    )["environments"][0]["monthly_usd"]
    assert dev_after == dev_before
    again = runner.invoke(app, ["plan", *specs, "--env", "prod", "--optimize"])
    assert "No model moves" in again.stdout


def test_apply_needs_one_environment(tmp_path):
    specs = _copy_examples(tmp_path)
    result = runner.invoke(app, ["plan", *specs, "--apply"])
    assert result.exit_code == 1
    assert "choose it with --env NAME" in result.output
    assert (tmp_path / "infra/prod.yaml").read_text() == (REPO / "infra/prod.yaml").read_text()


def test_instance_types_without_optimize_is_refused(monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["plan", "--instance-types", "ml.g6*"])
    assert result.exit_code == 1
    assert "add --optimize" in result.output


def test_instance_types_take_patterns_separated_by_commas(monkeypatch):
    monkeypatch.chdir(REPO)
    args = ["plan", "--env", "prod", "--optimize", "--instance-types", "ml.g6.*,ml.inf2.*"]
    result = runner.invoke(app, [*args, "-o", "json"])
    assert result.exit_code == 0, result.output
    o = json.loads(result.stdout)["environments"][0]["optimized"]
    assert {p["instance_type"].split(".")[1] for p in o["placements"]} <= {"g6", "inf2"}


def test_optimize_with_a_baseline_says_what_moving_saves(tmp_path):
    import sys

    import yaml

    sys.path.insert(0, str(REPO / "bench"))
    import case_portfolio

    folder = case_portfolio.write(tmp_path / "case", 20)
    names = sorted(p.stem for p in (folder / "models").glob("*.yaml"))
    baseline = tmp_path / "today.yaml"
    hosting = [{"model": n, "instanceType": "ml.p4d.24xlarge", "instances": 1} for n in names]
    baseline.write_text(
        yaml.safe_dump({"apiVersion": "llmdeploy/v1", "kind": "Baseline", "hosting": hosting})
    )
    args = ["plan", "--specs", str(folder), "--optimize", "--baseline", str(baseline)]
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "today (--baseline)" in text.stdout
    assert "moving from today's hosting to the optimized layout" in text.stdout
    (env,) = json.loads(runner.invoke(app, [*args, "-o", "json"]).stdout)["environments"]
    o = env["optimized"]
    assert o["baseline_usd"] == pytest.approx(20 * 37.688 * 730, rel=0.01)
    # Busy 7-8B models with a 32 × 4096 batch: two L4s a copy, on both sides of the comparison,
    # and the optimized layout at or below dedicated hosting and the current layout.
    assert o["monthly_usd"]["expected"] <= o["dedicated_usd"]["expected"]
    assert o["monthly_usd"]["expected"] <= o["current_usd"]["expected"]
