"""The traffic-profile rules refuse their cases with a message a user can act on."""

from __future__ import annotations

import pytest

from conftest import base_environment, base_model, mutate
from llmdeploy.errors import SpecError

# rule id, environment changes, model changes, field path, words, line text
CASES = [
    (
        "traffic-hours-add-up",
        {"spec__traffic": {"hoursPerDay": {"min": 10, "initial": 8, "max": 2}}},
        {},
        "spec.traffic.hoursPerDay",
        "hours a day at min + initial + max add up to 20, not 24 (10 + 8 + 2)",
        "hoursPerDay:",
    ),
    (
        "traffic-hours-add-up-model",
        {},
        {"spec__traffic": {"hoursPerDay": {"initial": 20, "max": 6}}},
        "spec.traffic.hoursPerDay",
        "add up to 26, not 24",
        "hoursPerDay:",
    ),
    (
        "traffic-exactly-one",
        {},
        {"spec__traffic": {"timezone": "Europe/Berlin"}},
        "spec.traffic",
        "traffic gives neither hoursPerDay nor copiesByHour",
        "traffic:",
    ),
    (
        "traffic-within-copies",
        {},
        {"spec__traffic": {"copiesByHour": [1] * 9 + [3] + [1] * 14}},
        "spec.traffic.copiesByHour[9]",
        "3 in hour 09:00 is outside copies 1..2: autoscaling never goes there",
        "- 3",
    ),
]
RULE_IDS = frozenset(c[0] for c in CASES)


@pytest.mark.parametrize(("rule", "env", "model", "path", "words", "line_text"), CASES)
def test_rule_refuses_its_case(specs, rule, env, model, path, words, line_text):
    specs.standard(mutate(base_environment(), **env), mutate(base_model(), **model))
    with pytest.raises(SpecError) as exc:
        specs.check()
    found = [d for d in exc.value.diagnostics if d.rule == rule]
    assert found, f"{rule} did not fire"
    d = found[0]
    assert d.path == path
    assert words in d.message
    assert d.fix
    assert d.line == specs.line_of(__import__("pathlib").Path(d.file), line_text)


def test_both_forms_at_once_are_refused(specs):
    traffic = {"hoursPerDay": {"min": 24}, "copiesByHour": [1] * 24}
    specs.standard(None, mutate(base_model(), spec__traffic=traffic))
    with pytest.raises(SpecError) as exc:
        specs.check()
    assert any("both hoursPerDay and copiesByHour" in d.message for d in exc.value.diagnostics)


def test_a_valid_profile_and_timezone_pass(specs):
    traffic = {"hoursPerDay": {"min": 14, "initial": 8, "max": 2}, "timezone": "Europe/Berlin"}
    specs.standard(
        mutate(base_environment(), spec__traffic={"hoursPerDay": {"initial": 24}}),
        mutate(base_model(), spec__traffic=traffic),
    )
    specs.check()


def test_an_unknown_timezone_names_the_closest(specs):
    traffic = {"hoursPerDay": {"initial": 24}, "timezone": "Europe/Berln"}
    specs.standard(None, mutate(base_model(), spec__traffic=traffic))
    with pytest.raises(SpecError) as exc:
        specs.check()
    d = exc.value.diagnostics[0]
    assert d.path == "spec.traffic.timezone"
    assert "Europe/Berlin" in d.fix
