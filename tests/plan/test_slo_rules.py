"""The SLO rules (docs/slo.md): each case starts from the valid base portfolio
(tests/conftest.py), sets an SLO that one rule must question, and asserts the rule, the field
it names, the line it points at, its words and its severity; the other tests show where each
rule stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import base_environment, base_model, mutate

# The base model: copies {min: 1, initial: 1, max: 2} on a g6e.12xlarge pool, no batch size.
INTERACTIVE = {"ttftMs": 500, "tpotMs": 50, "p95LatencyMs": 8000, "atConcurrency": 8}
DEDICATED = {
    "spec__endpoint": None,
    "spec__resources": None,
    "spec__copies": None,
    "spec__dedicated": {
        "instanceType": "ml.g6e.12xlarge",  # 4 GPUs: four replicas of TP 1
        "instances": {"min": 1, "initial": 1, "max": 2},
    },
}

# rule id, model changes, field path, words the message must contain, text on the line it
# must point at, severity
CASES = [
    (
        "slo-within-rollback-alarm",
        {
            "spec__slo": {"p95LatencyMs": 2000},
            "spec__rollout": {"rollbackOn": {"p95LatencyMs": 5000}},
        },
        "spec.rollout.rollbackOn.p95LatencyMs",
        "the SLO asks for p95 latency ≤ 2000 ms but a rollout rolls back only above 5000 ms "
        "(p95 ModelLatency): a new version answering in between breaks the SLO and is kept",
        "p95LatencyMs: 5000",
        "warning",
    ),
    (
        "slo-concurrency-within-capacity",
        {"spec__lmi__maxRollingBatchSize": 16, "spec__slo": {"atConcurrency": 40}},
        "spec.slo.atConcurrency",
        "at its peak (copies.max 2) the model generates at most 32 answers at once "
        "(maxRollingBatchSize 16 per copy); at 40 concurrent requests the rest wait",
        "atConcurrency: 40",
        "warning",
    ),
    (
        "slo-scale-to-zero",
        {"spec__copies__min": 0, "spec__slo": {"ttftMs": 500}},
        "spec.copies.min",
        "the model may scale to zero copies: after an idle spell, requests are refused with a "
        "no-capacity error until a copy has started",
        "min: 0",
        "warning",
    ),
    (
        "slo-figures-consistent",
        {"spec__slo": {"ttftMs": 3000, "p95LatencyMs": 3}},
        "spec.slo.ttftMs",
        "is not below p95LatencyMs (3 ms), which includes it",
        "ttftMs: 3000",
        "warning",
    ),
]
RULE_IDS = frozenset(c[0] for c in CASES)


def _findings(specs, model_changes, env_changes=None):
    specs.standard(
        mutate(base_environment(), **(env_changes or {})), mutate(base_model(), **model_changes)
    )
    return specs.findings()


def _slo_findings(specs, model_changes, env_changes=None):
    return [d for d in _findings(specs, model_changes, env_changes) if d.rule in RULE_IDS]


@pytest.mark.parametrize(
    ("rule", "model", "path", "words", "line_text", "severity"), CASES, ids=[c[0] for c in CASES]
)
def test_rule_questions_its_case(specs, rule, model, path, words, line_text, severity):
    found = [d for d in _findings(specs, model) if d.rule == rule]
    assert found, f"{rule} did not fire"
    d = found[0]
    assert d.path == path
    assert words in d.message
    assert d.severity == severity
    assert d.fix, "every finding says how to fix it"
    assert d.line == specs.line_of(Path(d.file), line_text)
    assert f"[{rule}]" in d.render()


def test_a_realistic_interactive_slo_is_clean(specs):
    model = {
        "spec__lmi__maxRollingBatchSize": 32,
        "spec__slo": INTERACTIVE,
        "spec__rollout": {"rollbackOn": {"errorRatePercent": 1, "p95LatencyMs": 6000}},
    }
    assert _findings(specs, model) == []


def test_an_alarm_stricter_than_the_slo_is_only_cautious(specs):
    model = {
        "spec__slo": {"p95LatencyMs": 5000, "errorRatePercent": 5},
        "spec__rollout": {"rollbackOn": {"errorRatePercent": 2, "p95LatencyMs": 5000}},
    }
    assert _slo_findings(specs, model) == []


def test_an_error_budget_below_the_alarm_warns_with_both_numbers(specs):
    model = {
        "spec__slo": {"errorRatePercent": 0.5},
        "spec__rollout": {"rollbackOn": {"errorRatePercent": 5}},
    }
    (d,) = _slo_findings(specs, model)
    assert d.path == "spec.rollout.rollbackOn.errorRatePercent"
    assert "allows 0.5% failed requests but a rollout rolls back only at 5% 5XX" in d.message
    assert "errorRatePercent: 0.5 or less" in d.fix


def test_an_slo_without_a_rollback_alarm_is_not_judged_by_this_rule(specs):
    assert _slo_findings(specs, {"spec__slo": {"p95LatencyMs": 2000}}) == []


def test_concurrency_is_judged_only_when_the_batch_size_is_known(specs):
    assert _slo_findings(specs, {"spec__slo": {"atConcurrency": 1000}}) == []


def test_concurrency_within_the_peak_is_fine(specs):
    model = {"spec__lmi__maxRollingBatchSize": 16, "spec__slo": {"atConcurrency": 32}}
    assert _slo_findings(specs, model) == []


def test_the_concurrency_fix_gives_the_numbers_that_would_fit(specs):
    model = {"spec__lmi__maxRollingBatchSize": 16, "spec__slo": {"atConcurrency": 40}}
    (d,) = _slo_findings(specs, model)
    assert d.fix == (
        "lower atConcurrency to 32, or raise copies.max to 3 or lmi.maxRollingBatchSize to 20"
    )


def test_a_dedicated_endpoint_counts_its_replicas_per_instance(specs):
    # 2 instances × 4 replicas (4 GPUs, TP 1) × batch 8 = 64.
    fits = {**DEDICATED, "spec__lmi__maxRollingBatchSize": 8, "spec__slo": {"atConcurrency": 64}}
    assert _slo_findings(specs, fits) == []
    over = {**fits, "spec__slo": {"atConcurrency": 65}}
    (d,) = _slo_findings(specs, over)
    assert "at most 64 answers at once (maxRollingBatchSize 8 per instance (4 replica(s)))" in (
        d.message
    )
    assert "raise dedicated.instances.max to 3" in d.fix


def test_scale_to_zero_names_the_latency_figures_it_cannot_hold(specs):
    model = {"spec__copies__min": 0, "spec__slo": INTERACTIVE}
    (d,) = _slo_findings(specs, model)
    assert "(ttftMs 500 ms, p95LatencyMs 8000 ms)" in d.message
    assert "loading 8B parameters" in d.message
    assert "copies.min: 1" in d.fix


def test_a_warm_model_with_an_slo_does_not_warn_about_cold_starts(specs):
    assert _slo_findings(specs, {"spec__slo": {"ttftMs": 500}}) == []


def test_an_slo_can_be_kept_warm_in_one_environment_only(specs):
    # Scale to zero in dev, one warm copy in prod: prod is clean.
    model = {
        "spec__copies__min": 0,
        "spec__slo": {"ttftMs": 500},
        "spec__environments": {"prod": {"copies": {"min": 1}}},
    }
    assert _slo_findings(specs, model) == []


def test_tpot_at_or_above_the_latency_is_questioned_too(specs):
    (d,) = _slo_findings(specs, {"spec__slo": {"tpotMs": 200, "p95LatencyMs": 200}})
    assert d.path == "spec.slo.tpotMs"
    assert "check the units (milliseconds)" in d.fix
