"""plan.schedule: Application Auto Scaling's cron, and the weekly profile `plan` costs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from llmdeploy.plan.schedule import Cron, CronError, NotWeekly, weekly_bounds


@dataclass(frozen=True)
class A:
    cron: str
    min: int
    max: int
    timezone: str = "UTC"
    name: str | None = None


def _covers_the_week(segments):
    assert segments[0][0] == 0 and segments[-1][1] == 168
    for (_, end, *_), (start, *_rest) in itertools.pairwise(segments):
        assert end == start
    for (_, _, *a), (_, _, *b) in itertools.pairwise(segments):
        assert a != b, "neighbouring segments differ"


def test_office_hours_in_berlin_monday_to_friday():
    # Berlin is UTC+1 in standard time: 08:00 is 07:00 UTC, 20:00 is 19:00 UTC.
    schedule = [
        A("0 8 ? * MON-FRI *", 2, 4, "Europe/Berlin"),
        A("0 20 ? * MON-FRI *", 0, 1, "Europe/Berlin"),
    ]
    segments = weekly_bounds(schedule, 1, 4)
    _covers_the_week(segments)
    warm = [(s, e) for s, e, low, high in segments if (low, high) == (2, 4)]
    assert warm == [(d * 24 + 7.0, d * 24 + 19.0) for d in range(5)]
    # Before Monday's first action the week before's last one (Friday 20:00) is in force,
    # through the weekend and into Monday morning.
    assert segments[0] == (0.0, 7.0, 0, 1)
    assert segments[-1] == (4 * 24 + 19.0, 168.0, 0, 1)
    assert sum(e - s for s, e, *_ in warm) == 60


def test_an_action_on_monday_morning_in_tokyo_wraps_to_sunday_utc():
    # Monday 00:30 in Tokyo (UTC+9) is Sunday 15:30 UTC: the last hours of the week.
    schedule = [A("30 0 ? * MON *", 3, 5, "Asia/Tokyo"), A("0 12 ? * MON *", 1, 2, "Asia/Tokyo")]
    segments = weekly_bounds(schedule, 0, 5)
    _covers_the_week(segments)
    assert segments == [(0.0, 3.0, 3, 5), (3.0, 159.5, 1, 2), (159.5, 168.0, 3, 5)]


def test_several_actions_a_day_and_every_day():
    schedule = [
        A("0 6 * * ? *", 1, 2),  # every day: `*` in day-of-month, `?` in day-of-week
        A("0 9,17 * * ? *", 3, 6),
        A("0/30 22 * * ? *", 0, 1),  # 22:00 and 22:30 (the second changes nothing)
    ]
    segments = weekly_bounds(schedule, 1, 1)
    _covers_the_week(segments)
    # Tuesday: 06:00, 09:00 (17:00 keeps the same bounds), 22:00 (22:30 too).
    assert [seg for seg in segments if 24 <= seg[0] < 48] == [
        (30.0, 33.0, 1, 2),
        (33.0, 46.0, 3, 6),
        (46.0, 54.0, 0, 1),
    ]
    assert segments[0] == (0.0, 6.0, 0, 1)  # Sunday 22:00's bounds until Monday 06:00
    assert segments[-1] == (166.0, 168.0, 0, 1)


def test_no_schedule_is_the_default_range_all_week():
    assert weekly_bounds([], 1, 3) == [(0.0, 168.0, 1, 3)]


def test_actions_in_the_same_minute_the_later_one_wins():
    schedule = [A("0 8 ? * MON *", 1, 1), A("0 8 ? * MON *", 2, 2)]
    assert weekly_bounds(schedule, 0, 9) == [(0.0, 168.0, 2, 2)]


def test_daylight_saving_counts_at_standard_time():
    # New York in standard time is UTC-5: 07:00 local is 12:00 UTC (13:00 in summer, when
    # Application Auto Scaling follows the clock; the hours in force are the same).
    segments = weekly_bounds(
        [
            A("0 7 ? * MON *", 2, 2, "America/New_York"),
            A("0 19 ? * MON *", 1, 1, "America/New_York"),
        ],
        0,
        2,
    )
    assert (12.0, 24.0, 2, 2) in segments


@pytest.mark.parametrize(
    ("cron", "field"),
    [
        ("0 8 1 * ? *", "day-of-month"),
        ("0 8 L * ? *", "day-of-month"),
        ("0 8 15W * ? *", "day-of-month"),
        ("0 8 ? JAN-MAR MON *", "month"),
        ("0 8 ? * 6L *", "day-of-week"),
        ("0 8 ? * 2#1 *", "day-of-week"),
        ("0 8 ? * MON 2026", "year"),
    ],
)
def test_a_pattern_that_is_not_weekly_is_said_so(cron, field):
    with pytest.raises(NotWeekly) as info:
        weekly_bounds([A("0 8 ? * MON *", 1, 2), A(cron, 0, 1)], 0, 2)
    assert info.value.index == 1 and info.value.field == field
    assert "not a weekly pattern" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("cron", "expression"),
    [
        ("0 8 ? * MON-FRI *", "cron(0 8 ? * MON-FRI *)"),
        ("cron(0 8 ? * mon-fri *)", "cron(0 8 ? * MON-FRI *)"),
        ("  0/15   8-17 ? * 2-6 * ", "cron(0/15 8-17 ? * 2-6 *)"),
        ("0 8 1-31 * ? 1970-2199", "cron(0 8 1-31 * ? 1970-2199)"),
        ("0 8 ? * L *", "cron(0 8 ? * L *)"),
    ],
)
def test_valid_expressions(cron, expression):
    assert Cron.parse(cron).expression == expression


def test_parsed_fields():
    c = Cron.parse("0/20 8-10 ? JAN,DEC SUN,SAT 2030/2")
    assert c.minutes == {0, 20, 40}
    assert c.hours == {8, 9, 10}
    assert c.days_of_month is None
    assert c.months == {1, 12}
    assert c.days_of_week == {1, 7}
    assert c.years is not None and 2030 in c.years and 2031 not in c.years
    assert Cron.parse("0 8 ? * L *").days_of_week == {7}  # L alone: the last day, Saturday


@pytest.mark.parametrize(
    ("cron", "field", "token", "words", "fix"),
    [
        ("0 8 * * 1-5", "year", None, "5 fields: that is Unix cron", "write `0 8 ? * MON-FRI *`"),
        ("0 0 8 ? * MON *", "minutes", "0", "7 fields", "drop the seconds: `0 8 ? * MON *`"),
        ("0 8 ? *", None, "0 8 ? *", "4 field(s)", "e.g. `0 8 ? * MON-FRI *`"),
        ("60 8 ? * MON *", "minutes", "60", "minutes: 60 is outside 0-59", "use 0-59"),
        ("0 24 ? * MON *", "hours", "24", "hours: 24 is outside 0-23", "use 0-23"),
        ("0 8 ? 13 MON *", "month", "13", "month: 13 is outside 1-12", "or JAN-DEC"),
        ("0 8 ? * 0 *", "day-of-week", "0", "outside 1-7 (1 = SUN ... 7 = SAT)", "SUN-SAT"),
        ("0 8 ? * MONDAY *", "day-of-week", "MONDAY", "is not a value", "SUN-SAT"),
        ("0 8 * * MON *", "day-of-week", "MON", "cannot both be given", "exactly one"),
        ("0 8 ? * ? *", "day-of-week", "?", "cannot both be '?'", "exactly one"),
        ("0 8 ? * FRI-MON *", "day-of-week", "FRI-MON", "runs backwards", "FRI-SAT,SUN-MON"),
        ("0 8 ? * MON/2 *", "day-of-week", "MON/2", "'/' is not allowed", "MON,WED,FRI"),
        ("0/0 8 ? * MON *", "minutes", "0/0", "a whole step of 1 or more", "0/15"),
        ("0 8 ? * 3#1,6#3 *", "day-of-week", "3#1,6#3", "must stand alone", "alone"),
        ("0 8 32W * ? *", "day-of-month", "32W", "outside the month", "1W ... 31W"),
        ("0 8 ? * MON 1969", "year", "1969", "outside 1970-2199", "use 1970-2199"),
        ("rate(1 day)", None, "rate(1 day)", "rate(...) expressions are not supported", "cron"),
        ("at(2026-01-01T00:00:00)", None, None, "at(...) expressions are not supported", "cron"),
        ("cron(0 8 ? * MON *", None, None, "unbalanced cron(...)", "cron(0 8 ? * MON-FRI *)"),
        ("0 8, ? * MON *", "hours", "8,", "empty value", "stray comma"),
    ],
)
def test_invalid_expressions_name_the_field_the_token_and_the_fix(cron, field, token, words, fix):
    with pytest.raises(CronError) as info:
        Cron.parse(cron)
    e = info.value
    assert e.field == field
    if token is not None:
        assert e.token == token
    assert words in e.reason
    assert fix in e.fix
    assert isinstance(e, ValueError)
