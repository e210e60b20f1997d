"""Edge cases of issue 12's plan features (traffic, --optimize, --apply, --baseline) as a
user hits them: bad input is refused with a located message and exit 1, never in silence."""

from __future__ import annotations

import os
import shutil
import stat

from typer.testing import CliRunner

from conftest import REPO
from llmdeploy.cli.main import app

runner = CliRunner()


def _copy_examples(tmp_path):
    for folder in ("models", "infra"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return ["--specs", str(tmp_path / "models"), "--specs", str(tmp_path / "infra")]


def _replace(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_instance_types_matching_no_type_is_refused(tmp_path):
    # Before: "No model moves", and every cost $0 (the current layout too), exit 0.
    specs = _copy_examples(tmp_path)
    result = runner.invoke(
        app, ["plan", *specs, "--env", "prod", "--optimize", "--instance-types", "ml.g6.12xlarg"]
    )
    assert result.exit_code == 1, result.output
    assert "ml.g6.12xlarg" in result.output and "ml.g6.12xlarge" in result.output
    assert "Traceback" not in result.output


def test_instance_types_matching_only_unpriced_types_is_refused(tmp_path):
    specs = _copy_examples(tmp_path)
    result = runner.invoke(
        app, ["plan", *specs, "--env", "prod", "--optimize", "--instance-types", "ml.p5en*"]
    )
    assert result.exit_code == 1, result.output
    assert "no priced instance type" in result.output and "spec.pricing" in result.output


def test_a_copies_by_hour_with_one_bad_hour_is_not_also_called_too_short(tmp_path):
    specs = _copy_examples(tmp_path)
    hours = ", ".join(["0"] * 23 + ["0.5"])
    _replace(
        tmp_path / "models/sql-generation.yaml",
        "hoursPerDay: {min: 20, initial: 4}",
        f"copiesByHour: [{hours}]",
    )
    result = runner.invoke(app, ["validate", *specs])
    assert result.exit_code == 1, result.output
    assert "copiesByHour[23] = 0.5" in result.output
    assert "too short" not in result.output  # 24 entries were given


def test_copies_by_hour_of_the_wrong_length_says_24(tmp_path):
    specs = _copy_examples(tmp_path)
    _replace(
        tmp_path / "models/sql-generation.yaml",
        "hoursPerDay: {min: 20, initial: 4}",
        f"copiesByHour: [{', '.join(['0'] * 23)}]",
    )
    result = runner.invoke(app, ["validate", *specs])
    assert result.exit_code == 1, result.output
    assert "copiesByHour" in result.output and "24" in result.output


def test_baseline_with_a_refused_number_still_reports_every_other_problem(tmp_path):
    # Before: only the octal number was reported; the unknown model, the misspelt type and
    # the zero count came one run at a time.
    specs = _copy_examples(tmp_path)
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(
        "apiVersion: llmdeploy/v1\nkind: Baseline\nhosting:\n"
        "  - {model: blockgen, instanceType: ml.p4d.24xlarg, instances: 0}\n"
        "  - {model: text-evaluation, instanceType: ml.p4d.24xlarge, instances: 0100}\n"
    )
    result = runner.invoke(
        app, ["plan", *specs, "--env", "prod", "--optimize", "--baseline", str(baseline)]
    )
    assert result.exit_code == 1, result.output
    out = result.output
    assert "0100" in out
    assert "blockgen" in out and "ml.p4d.24xlarg" in out and "must be at least 1" in out
    assert "Traceback" not in out


def test_apply_keeps_crlf_line_endings(tmp_path):
    specs = _copy_examples(tmp_path)
    path = tmp_path / "models/agent-planner.yaml"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    result = runner.invoke(app, ["plan", *specs, "--env", "prod", "--apply"])
    assert result.exit_code == 0, result.output
    data = path.read_bytes()
    assert b"g6-24xlarge-pool" in data or b"endpoint" in data
    assert data.count(b"\n") == data.count(b"\r\n"), "line endings were changed"


def test_apply_keeps_a_wide_list_indentation(tmp_path):
    # `-   name: x` (the item's keys four columns after the dash) with 4-space mappings.
    specs = _copy_examples(tmp_path)
    path = tmp_path / "infra/prod.yaml"
    lines = []
    for line in path.read_text().splitlines():
        n = len(line) - len(line.lstrip(" "))
        body = line.lstrip(" ")
        if body.startswith("- "):
            body = "-   " + body[2:]
        lines.append(" " * (2 * n) + body)
    path.write_text("\n".join(lines) + "\n")
    assert runner.invoke(app, ["validate", *specs]).exit_code == 0
    result = runner.invoke(app, ["plan", *specs, "--env", "prod", "--apply"])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "        -   name: codegen-g6\n            instanceType: ml.g6.12xlarge\n" in text
    # The comment stays at its key's indentation.
    assert "\n            # Warm models need one instance when idle" in text
    assert runner.invoke(app, ["validate", *specs]).exit_code == 0


def test_apply_refuses_a_read_only_file_and_writes_nothing(tmp_path):
    specs = _copy_examples(tmp_path)
    path = tmp_path / "models/agent-planner.yaml"
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = {p: p.read_text() for p in tmp_path.rglob("*.yaml")}
    try:
        result = runner.invoke(app, ["plan", *specs, "--env", "prod", "--apply"])
        assert result.exit_code == 1, result.output
        assert "agent-planner.yaml" in result.output and "read-only" in result.output
        assert {p: p.read_text() for p in tmp_path.rglob("*.yaml")} == before
        assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files
    finally:
        os.chmod(path, 0o644)
