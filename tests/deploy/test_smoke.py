"""After a deploy: one smoke request per deployed model through SageMaker Runtime (a fake
speaking LMI's formats, tests/fake_runtime.py), and `--slo-check` judging each model's SLO."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import fake_runtime
from llmdeploy.cli.main import app

runner = CliRunner()


def _deploy(*args: str):
    return runner.invoke(app, ["deploy", "--env", "dev", "-o", "json", *args])


def _add_slo(portfolio, model: str, slo: str) -> None:
    path = portfolio / "models" / f"{model}.yaml"
    path.write_text(path.read_text().rstrip("\n") + f"\n  slo: {slo}\n")


@pytest.fixture
def runtime(aws, monkeypatch):
    """A runtime of this test's own (settings changeable), instead of the shared quick one."""
    server = fake_runtime.start(fake_runtime.Settings(ttft_ms=5, tpot_ms=2, tokens=5, seed=3))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    yield server
    server.shutdown()
    server.server_close()


def test_every_deployed_model_gets_one_smoke_request_on_its_component(portfolio, runtime):
    result = _deploy("text-evaluation")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (check,) = report["serving"]
    assert check["model"] == "text-evaluation" and check["smoke"]["ok"]
    assert check["smoke"]["ttft_ms"] >= 5 and check["smoke"]["first_words"]
    (seen,) = runtime.seen.requests
    # Shared endpoint: the request names the inference component, as SageMaker requires.
    assert seen["endpoint"] == "llmdeploy-dev-codegen-g6"
    assert seen["component"] == "llmdeploy-dev-text-evaluation"
    again = _deploy("text-evaluation")  # unchanged: nothing deployed, nothing to ask
    assert json.loads(again.stdout)["serving"] == []


def test_a_model_that_does_not_answer_fails_the_deploy(portfolio, runtime):
    runtime.settings.error_rate = 1.0
    result = _deploy("text-evaluation")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("text-evaluation: smoke request failed" in p for p in problems), problems


def test_no_smoke_sends_nothing(portfolio, runtime):
    assert _deploy("text-evaluation", "--no-smoke").exit_code == 0
    assert runtime.seen.requests == []


def test_slo_check_fails_the_deploy_naming_the_figure(portfolio, runtime):
    _add_slo(portfolio, "text-evaluation", "{ttftMs: 1, atConcurrency: 2}")
    runtime.settings.ttft_ms = 40
    result = _deploy("text-evaluation", "--slo-check")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    (check,) = report["serving"]
    assert check["slo"]["passed"] is False
    assert any("SLO broken: TTFT" in p for p in report["problems"]), report["problems"]


def test_slo_check_passes_when_the_slo_holds(portfolio, runtime):
    _add_slo(portfolio, "text-evaluation", "{ttftMs: 5000, atConcurrency: 2}")
    result = runner.invoke(app, ["deploy", "--env", "dev", "--slo-check", "text-evaluation"])
    assert result.exit_code == 0, result.output
    assert "text-evaluation: answers, TTFT" in result.stdout
    assert "text-evaluation: SLO met" in result.stdout
