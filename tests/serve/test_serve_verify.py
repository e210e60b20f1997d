"""What deploy calls afterwards: a smoke request per deployed model, and the SLO check."""

from __future__ import annotations

import re

from serve_support import fake_fixture, write_specs  # noqa: F401 - the fixture

from llmdeploy.deploy.engine import StackResult
from llmdeploy.plan import check
from llmdeploy.serve import verify


def _env(tmp_path, **kw):
    write_specs(tmp_path, **kw)
    return check([tmp_path / "models", tmp_path / "infra"], ["prod"]).environments[0]


def test_only_deployed_model_stacks_are_checked(tmp_path):
    env = _env(tmp_path)
    results = [
        StackResult("llmdeploy-prod-endpoint-pool", "deployed"),
        StackResult("llmdeploy-prod-model-m1", "unchanged"),
    ]
    assert verify.deployed_models(env, results) == []
    results.append(StackResult("llmdeploy-prod-model-m1", "deployed"))
    assert verify.deployed_models(env, results) == ["m1"]


def test_a_smoke_request_reports_ttft_and_first_words(fake, tmp_path):
    (result,) = verify.after_deploy(_env(tmp_path), ["m1"])
    assert result.problems == []
    assert result.smoke.first_words == "the quick brown fox jumps over"
    assert result.smoke.ttft_ms >= 20
    assert fake.seen.requests[0]["component"] == "llmdeploy-prod-m1"


def test_a_failing_smoke_request_is_a_problem_naming_the_model(fake, tmp_path):
    fake.settings.error_rate = 1.0
    fake.draw_failure = lambda: "model"
    (result,) = verify.after_deploy(_env(tmp_path), ["m1"], slo_check=True)
    assert result.smoke is None and result.slo is None
    (problem,) = result.problems
    assert problem.startswith("m1: smoke request failed: InvokeEndpointWithResponseStream")
    assert "ModelError" in problem


def test_the_slo_check_names_the_broken_figure(fake, tmp_path):
    fake.settings.ttft_ms = 60
    env = _env(tmp_path, slo={"ttftMs": 30, "atConcurrency": 2})
    (result,) = verify.after_deploy(env, ["m1"], slo_check=True, slo_requests=4)
    assert len(result.slo.level.samples) == 4 and result.slo.level.concurrency == 2
    (problem,) = result.problems
    assert re.fullmatch(
        r"m1: SLO broken: TTFT p50 \d+\.\d ms > SLO 30 ms \(\+\d+%\) at concurrency 2", problem
    ), problem
    assert result.to_dict()["slo"]["passed"] is False
