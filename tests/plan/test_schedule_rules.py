"""The schedule rules (docs/scheduling.md): each case starts from the valid base portfolio
(tests/conftest.py), gives the model a schedule that one rule must refuse or question, and
asserts the rule, the field it names, the line it points at, its words and its severity; the
other tests show where the rules stay quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import base_environment, base_model, mutate
from llmdeploy.plan import rules

OFFICE = {"cron": "0 8 ? * MON-FRI *", "timezone": "Europe/Berlin", "min": 2, "max": 2}
NIGHT = {"cron": "0 20 ? * MON-FRI *", "timezone": "Europe/Berlin", "min": 0, "max": 2}


def _schedule(*actions, **autoscaling):
    return {"spec__autoscaling": {"target": 4, **autoscaling, "schedule": list(actions)}}


DEDICATED = {
    "spec__endpoint": None,
    "spec__resources": None,
    "spec__copies": None,
    "spec__dedicated": {
        "instanceType": "ml.g6e.12xlarge",
        "instances": {"min": 1, "initial": 1, "max": 2},
    },
}
ENDPOINT_KEEPS_ONE = {"spec__endpoints__0__instances": {"min": 1, "initial": 1, "max": 2}}

# rule id, model changes, environment changes, field path, words the message must contain,
# text on the line it must point at, severity
CASES = [
    (
        "schedule-cron-valid",
        _schedule({"cron": "0 8 * * 1-5", "min": 1, "max": 2}),
        {},
        "spec.autoscaling.schedule[0].cron",
        "5 fields: that is Unix cron; Application Auto Scaling takes six (a year last)",
        "cron: 0 8 * * 1-5",
        "error",
    ),
    (
        "schedule-days-by-name",
        _schedule({"cron": "0 8 ? * 2-6 *", "min": 1, "max": 2}),
        {},
        "spec.autoscaling.schedule[0].cron",
        "day-of-week '2-6' counts from 1 = Sunday (not Monday, as Unix cron does): it means "
        "MON,TUE,WED,THU,FRI",
        "cron: 0 8 ? * 2-6 *",
        "warning",
    ),
    (
        "schedule-min-within-max",
        _schedule({"cron": "0 8 ? * MON-FRI *", "min": 2, "max": 1}),
        {},
        "spec.autoscaling.schedule[0].min",
        "min is above max (1): Application Auto Scaling refuses the action",
        "min: 2",
        "error",
    ),
    (
        "schedule-max-within-range",
        _schedule({"cron": "0 8 ? * MON-FRI *", "min": 1, "max": 3}),
        {},
        "spec.autoscaling.schedule[0].max",
        "is above copies.max (2), the most that capacity planning holds room for",
        "max: 3",
        "error",
    ),
    (
        "schedule-max-above-zero",
        _schedule({"cron": "0 20 ? * MON-FRI *", "min": 0, "max": 0}),
        {},
        "spec.autoscaling.schedule[0].max",
        "max 0 would keep the model at zero copies: every request is refused",
        "max: 0",
        "error",
    ),
    (
        "schedule-dedicated-keeps-an-instance",
        {**DEDICATED, **_schedule({"cron": "0 20 ? * MON-FRI *", "min": 0, "max": 1})},
        {},
        "spec.autoscaling.schedule[0].min",
        "a single-model endpoint cannot scale to zero instances",
        "min: 0",
        "error",
    ),
    (
        "schedule-names-unique",
        _schedule({**OFFICE, "name": "night"}, {**NIGHT, "name": "night"}),
        {},
        "spec.autoscaling.schedule[1].name",
        "two scheduled actions are named 'night' (schedule[0] and schedule[1]); names are "
        "unique per scalable target",
        None,  # the second `name: night` (the path says which)
        "error",
    ),
    (
        "schedule-weekly-pattern",
        _schedule({"cron": "0 8 1 * ? *", "min": 1, "max": 2}),
        {},
        "spec.autoscaling.schedule[0].cron",
        "day-of-month '1' picks days of the month: not a weekly pattern",
        "cron: 0 8 1 * ? *",
        "warning",
    ),
    (
        "schedule-distinct-times",
        _schedule(OFFICE, {**NIGHT, "cron": "0 8 ? * MON *"}),
        {},
        "spec.autoscaling.schedule[1].cron",
        "fires in the same minute as schedule[0] ('0 8 ? * MON-FRI *' in Europe/Berlin) with "
        "other bounds",
        "cron: 0 8 ? * MON *",
        "warning",
    ),
    (
        "schedule-zero-endpoint-min",
        _schedule(OFFICE, NIGHT),
        ENDPOINT_KEEPS_ONE,
        "spec.autoscaling.schedule[1].min",
        "every model on endpoint 'pool' can go to zero copies (by schedule or copies.min), but "
        "the endpoint keeps instances.min: 1 instances running",
        "min: 0",
        "warning",
    ),
    (
        "schedule-zero-slo",
        {**_schedule(OFFICE, NIGHT), "spec__slo": {"p95LatencyMs": 8000}},
        {},
        "spec.autoscaling.schedule[1].min",
        "from '0 20 ? * MON-FRI *' (Europe/Berlin) the model may go to zero copies",
        "min: 0",
        "warning",
    ),
    (
        "schedule-endpoint-capacity",
        {
            "spec__copies": {"min": 1, "initial": 1, "max": 12},
            **_schedule(
                {"cron": "0 8 ? * MON-FRI *", "min": 12, "max": 12},
                {"cron": "0 18 ? * MON-FRI *", "min": 1, "max": 12},
            ),
        },
        {},
        "spec.endpoints[0].instances.max",
        "from Mon 08:00 UTC (standard time) the models' schedules keep at least m1 ×12 copies "
        "on endpoint 'pool': that needs 3 × ml.g6e.12xlarge but the endpoint may grow to only 2",
        None,
        "error",
    ),
]

RULE_IDS = frozenset(c[0] for c in CASES)


def _findings(specs, model_changes, env_changes=None):
    specs.standard(
        mutate(base_environment(), **(env_changes or {})), mutate(base_model(), **model_changes)
    )
    return specs.findings()


def _schedule_findings(specs, model_changes, env_changes=None):
    return [d for d in _findings(specs, model_changes, env_changes) if d.rule in RULE_IDS]


@pytest.mark.parametrize(
    ("rule", "model", "env", "path", "words", "line_text", "severity"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_rule_refuses_its_case(specs, rule, model, env, path, words, line_text, severity):
    found = [d for d in _findings(specs, model, env) if d.rule == rule]
    assert found, f"{rule} did not fire"
    d = found[0]
    assert d.path == path
    assert words in d.message, d.message
    assert d.severity == severity
    assert d.fix, "every finding says how to fix it"
    if line_text:
        assert d.line == specs.line_of(Path(d.file), line_text)
    assert f"[{rule}]" in d.render()


def test_every_schedule_rule_has_a_case():
    assert {r for r in rules.RULES if r.startswith("schedule-")} == RULE_IDS


def test_office_hours_and_zero_at_night_is_clean(specs):
    assert _findings(specs, _schedule(OFFICE, NIGHT)) == []


def test_a_dedicated_endpoint_between_one_and_two_instances_is_clean(specs):
    actions = (
        {"cron": "0 7 ? * MON-FRI *", "timezone": "America/New_York", "min": 2, "max": 2},
        {"cron": "0 19 ? * MON-FRI *", "timezone": "America/New_York", "min": 1, "max": 1},
    )
    assert _findings(specs, {**DEDICATED, **_schedule(*actions, target=16)}) == []


def test_an_unnamed_action_clashing_with_a_named_one_points_at_the_named_one(specs):
    (d,) = _schedule_findings(specs, _schedule({**OFFICE, "name": "schedule-2"}, NIGHT))
    assert d.rule == "schedule-names-unique" and d.path == "spec.autoscaling.schedule[0].name"


def test_a_copies_min_zero_endpoint_warning_is_not_said_twice(specs):
    # copies.min 0 on an endpoint that keeps an instance: scale-to-zero-endpoint-min speaks.
    model = {"spec__copies": {"min": 0, "initial": 1, "max": 2}, **_schedule(OFFICE, NIGHT)}
    found = _findings(specs, model, ENDPOINT_KEEPS_ONE)
    assert [d.rule for d in found] == ["scale-to-zero-endpoint-min"]


def test_the_endpoint_capacity_rule_is_quiet_when_the_peak_fits(specs):
    model = {
        "spec__copies": {"min": 1, "initial": 1, "max": 8},
        **_schedule(
            {"cron": "0 8 ? * MON-FRI *", "min": 8, "max": 8},
            {"cron": "0 18 ? * MON-FRI *", "min": 1, "max": 8},
        ),
    }
    assert _schedule_findings(specs, model) == []
