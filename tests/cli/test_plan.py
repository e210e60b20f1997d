"""`llmdeploy plan` as a user runs it on the example portfolio."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from conftest import REPO, base_model, mutate
from llmdeploy.cli.main import app

runner = CliRunner()


def test_plan_prints_capacity_cost_and_the_ratio(monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["plan", "--env", "prod"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "codegen-g6" in out and "ml.g6.12xlarge" in out and "$5.75/h" in out
    assert "dedicated ÷ shared" in out
    assert "price unknown" in out  # ml.p5en.48xlarge has no sourced price
    assert "Environment dev" not in out
    # Room for a rolling update: the minimum copies plus the largest batch, packed.
    assert "min + update" in out
    assert "update headroom: min copies + block-generation's batch (1 copy) need 2 of " in out
    # The week the traffic profiles lay out (prod's default, sql-generation's own, the
    # text-evaluation schedule): per endpoint, in the total and against dedicated hosting.
    assert "expected week" in out
    assert "expected)" in out  # the priced endpoints' expected total, next to the points
    assert any(line.startswith("expected ") for line in out.splitlines())


def test_plan_json_has_every_number(monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["plan", "-o", "json", "--suggest"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    prod = next(e for e in report["environments"] if e["name"] == "prod")
    codegen = next(e for e in prod["endpoints"] if e["name"] == "codegen-g6")
    assert set(codegen["points"]) == {"min", "initial", "max"}
    assert codegen["points"]["initial"]["needed"] >= 1
    assert {m["name"] for m in codegen["models"]} >= {"inline-completion", "flow-generation"}
    update = codegen["update"]
    assert update["holds"] is True and update["headroom"] == 6 - update["needed"]
    assert update["copies"] == codegen["points"]["min"]["copies"] + update["batch_copies"]
    dedicated = next(e for e in prod["endpoints"] if e["dedicated"])
    assert dedicated["update"] is None  # blue/green beside the old fleet, not within max
    ratio = prod["ratio"]["initial"]
    assert (
        ratio
        == prod["comparable_dedicated_usd"]["initial"] / prod["comparable_shared_usd"]["initial"]
    )
    assert isinstance(prod["suggestions"], list)


def test_plan_refuses_invalid_specs_like_validate(specs):
    specs.standard(None, mutate(base_model(), spec__lmi__tensorParallelDegree=4))
    result = runner.invoke(app, ["plan", str(specs.root)])
    assert result.exit_code == 1
    assert "tp-matches-accelerators" in result.stderr
