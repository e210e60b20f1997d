"""Traffic profiles and the expected monthly cost they give, checked by hand."""

from __future__ import annotations

import json

import pytest
from test_cost import G5_POOL, H, _model, pinned_prices  # noqa: F401  (the fixture)
from typer.testing import CliRunner

from conftest import base_environment, mutate
from llmdeploy.cli.main import app
from llmdeploy.plan import traffic
from llmdeploy.plan.cost import plan_environment
from llmdeploy.spec.models import EnvironmentTraffic, ScheduledScaling, Traffic

COUNTS = {"min": 0, "initial": 1, "max": 3}


def _traffic(**kw) -> Traffic:
    return Traffic.model_validate(kw)


def test_hours_per_day_start_at_eight_in_the_profiles_time_zone():
    hours = {"min": 14, "initial": 8, "max": 2}
    p = traffic.profile(COUNTS, _traffic(hoursPerDay=hours, timezone="Europe/Berlin"), None)
    # Berlin's standard time is UTC+1: 08:00 there is 07:00 UTC. Monday: 2 h at max, 8 at
    # initial, then 14 at min until Tuesday 07:00 UTC.
    assert p.at(6.5) == 0
    assert p.at(7.0) == 3
    assert p.at(8.99) == 3
    assert p.at(9.0) == 1
    assert p.at(16.99) == 1
    assert p.at(17.0) == 0
    assert p.at(24 + 7.5) == 3  # every day alike
    assert p.average == pytest.approx((2 * 3 + 8 * 1) / 24)
    assert p.basis == "model traffic"


def test_copies_by_hour_wrap_around_the_week():
    by_hour = (0,) * 22 + (2, 2)  # busy 22:00-24:00 in New York (UTC-5): 03:00-05:00 UTC
    p = traffic.profile(COUNTS, _traffic(copiesByHour=by_hour, timezone="America/New_York"), None)
    assert [p.at(h) for h in (2.5, 3.5, 4.5, 5.5)] == [0, 2, 2, 0]
    # Sunday 22:00 New York is Monday 03:00 UTC: the week wraps without a gap.
    assert p.at(167.5) == 0 and p.at(0.5) == 0
    assert sum(e - s for s, e, _ in p.segments) == pytest.approx(168)


def test_the_environment_default_and_no_profile_at_all():
    env = EnvironmentTraffic.model_validate({"hoursPerDay": {"min": 12, "initial": 12}})
    p = traffic.profile(COUNTS, None, env)
    assert p.basis == "environment traffic"
    assert p.average == pytest.approx(0.5)
    bare = traffic.profile(COUNTS, None, None)
    assert bare.basis == "copies.initial"
    assert bare.segments == ((0.0, 168.0, 1),)


def test_a_schedule_clamps_the_profile():
    office = ScheduledScaling.model_validate(
        {"cron": "0 8 ? * MON-FRI *", "min": 2, "max": 3, "timezone": "UTC"}
    )
    night = ScheduledScaling.model_validate(
        {"cron": "0 18 ? * MON-FRI *", "min": 0, "max": 0, "timezone": "UTC"}
    )
    p = traffic.profile(COUNTS, None, None, (office, night))
    # initial (1) within the bounds in force: 2..3 by day, 0..0 by night and all weekend.
    assert p.at(9) == 2 and p.at(19) == 0 and p.at(5 * 24 + 12) == 0
    assert p.basis == "copies.initial within schedule"
    assert p.average == pytest.approx(5 * 10 * 2 / 168)


def test_a_schedule_that_is_not_weekly_is_left_out_with_a_note():
    monthly = ScheduledScaling.model_validate({"cron": "0 8 1 * ? *", "min": 2, "max": 3})
    p = traffic.profile(COUNTS, None, None, (monthly,))
    assert p.segments == ((0.0, 168.0, 1),)
    assert "not a weekly pattern" in p.note


def test_joint_states_merge_equal_stretches():
    a = traffic.profile(COUNTS, _traffic(hoursPerDay={"min": 12, "max": 12}), None)
    b = traffic.profile(COUNTS, _traffic(hoursPerDay={"min": 18, "max": 6}), None)
    found = {s.copies: s.hours_per_week for s in traffic.states({"a": a, "b": b})}
    assert found == pytest.approx(
        {(("a", 3), ("b", 3)): 42, (("a", 3), ("b", 0)): 42, (("a", 0), ("b", 0)): 84}
    )


def test_expected_cost_of_a_shared_endpoint_by_hand(specs):
    # a: 1 GPU, copies 0/1/3; b: 2 GPUs, copies 1/1/2, on g5.12xlarge (4 GPUs, $7.09/h),
    # instances.min 0. Busy 6 h a day at max (a 3 + b 2×2 = 7 GPUs: 2 instances), 6 h at
    # initial (3 GPUs: 1), 12 h at min (b's 2 GPUs: 1).
    day = {"min": 12, "initial": 6, "max": 6}
    env = mutate(G5_POOL, spec__traffic={"hoursPerDay": day})
    specs.standard(env, _model("a", 1, (0, 1, 3)), _model("b", 2, (1, 1, 2)))
    (resolved,) = specs.check().environments
    p = plan_environment(resolved)
    (ep,) = p.endpoints
    instance_hours = (6 * 2 + 6 * 1 + 12 * 1) / 24 * H
    assert ep.expected.instance_hours == pytest.approx(instance_hours)
    assert ep.monthly_usd["expected"] == pytest.approx(instance_hours * 7.09)
    assert p.monthly_usd["expected"] == pytest.approx(instance_hours * 7.09)
    assert ep.expected.peak_instances == 2
    assert [(b.model, b.profile) for b in ep.expected.basis] == [
        ("a", "environment traffic"),
        ("b", "environment traffic"),
    ]
    # The old way follows the same profile, never below one copy: a on g6.2xlarge (3, 1, 1
    # instances), b on g6.12xlarge (1 all day).
    a_hours = (6 * 3 + 6 * 1 + 12 * 1) / 24 * H
    dedicated = a_hours * 1.222 + H * 5.752
    assert p.comparable_dedicated_usd["expected"] == pytest.approx(dedicated)
    assert p.ratio["expected"] == pytest.approx(dedicated / (instance_hours * 7.09))


def test_a_models_own_profile_wins_over_the_environments(specs):
    env = mutate(G5_POOL, spec__traffic={"hoursPerDay": {"max": 24}})
    quiet = _model("a", 1, (0, 1, 3), spec__traffic={"hoursPerDay": {"min": 24}})
    specs.standard(env, quiet)
    (resolved,) = specs.check().environments
    (ep,) = plan_environment(resolved).endpoints
    assert [(b.model, b.profile) for b in ep.expected.basis] == [("a", "model traffic")]
    assert ep.monthly_usd["expected"] == 0  # at min (0 copies) all day, instances.min 0


def test_plan_json_carries_expected(specs):
    env = mutate(base_environment(), spec__traffic={"hoursPerDay": {"min": 12, "initial": 12}})
    specs.standard(env)
    args = ["plan", str(specs.root / "models"), str(specs.root / "infra"), "-o", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (env_json,) = json.loads(result.stdout)["environments"]
    assert set(env_json["monthly_usd"]) == {"min", "initial", "max", "expected"}
    assert set(env_json["ratio"]) == {"min", "initial", "max", "expected"}
    assert set(env_json["endpoints"][0]["monthly_usd"]) == {"min", "initial", "max", "expected"}
    assert env_json["endpoints"][0]["expected"]["basis"] == [
        {"model": "m1", "profile": "environment traffic"}
    ]
