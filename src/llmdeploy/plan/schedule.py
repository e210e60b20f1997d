"""Application Auto Scaling's cron expressions, and the weekly profile a schedule makes.

`Cron.parse` reads the six fields Application Auto Scaling accepts (the EventBridge cron
syntax it links to: minutes, hours, day-of-month, month, day-of-week, year; `?`, `L`, `W`,
`#`, JAN-DEC and SUN-SAT, day 1 = Sunday) and refuses anything else with a `CronError` that
names the field, the token and the fix. `weekly_bounds` lays a schedule on one reference week
for `plan`. `check_actions` judges a whole schedule against the bounds it must stay in (the
one body of the rules that `plan.schedule_rules` and the constructs both run).
docs/scheduling.md has the sources and the decisions taken where they are silent.

Pure Python: no CDK, no AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

from llmdeploy.plan.checks import Finding

FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # 1-7, as Application Auto Scaling counts
# Each field's range and the wildcards the EventBridge reference allows in it.
_RANGE = {
    "minutes": (0, 59),
    "hours": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (1, 7),
    "year": (1970, 2199),
}
_STEP = {"minutes", "hours", "day-of-month", "month", "year"}  # `/` allowed
_NAMES = {"month": MONTHS, "day-of-week": DAYS}
MINUTES_PER_WEEK = 7 * 24 * 60
# Application Auto Scaling's quota (not adjustable): scheduled actions per scalable target.
MAX_ACTIONS = 200
# The example a fix shows: office hours in Application Auto Scaling's syntax.
EXAMPLE = "0 8 ? * MON-FRI *"


class CronError(ValueError):
    """A cron expression Application Auto Scaling would refuse (or that llmdeploy refuses
    rather than guess): ``field`` and ``token`` say where, ``fix`` what to write instead."""

    def __init__(self, message: str, *, field: str | None, token: str | None, fix: str):
        super().__init__(f"{message} (fix: {fix})")
        self.reason, self.field, self.token, self.fix = message, field, token, fix


class NotWeekly(ValueError):
    """A valid schedule that is not a weekly pattern (it names days of the month, months or
    years): `plan` says "not a weekly pattern, ignored for cost" and uses the defaults."""

    def __init__(self, message: str, *, index: int, field: str):
        super().__init__(message)
        self.index, self.field = index, field


class Action(Protocol):
    """What `weekly_bounds` and `check_actions` read of a scheduled action (the spec's
    `ScheduledScaling` and the constructs' one both have it)."""

    cron: str
    timezone: str
    min: int
    max: int


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression. Sets are None where the field is `?` (or `*` for the year:
    every year); ``special`` holds the day tokens no set can say (`L`, `15W`, `6L`, `2#1`)."""

    fields: tuple[str, ...]  # the six fields as written, upper-cased
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = Sunday ... 7 = Saturday
    years: frozenset[int] | None
    special: tuple[tuple[str, str], ...] = ()  # (field, token)

    @property
    def text(self) -> str:
        return " ".join(self.fields)

    @property
    def expression(self) -> str:
        """The `Schedule` Application Auto Scaling takes: ``cron(<six fields>)``."""
        return f"cron({self.text})"

    @classmethod
    def parse(cls, text: str) -> Cron:
        """The six fields, with or without ``cron(...)`` around them."""
        body = _unwrap(text)
        raw = body.split()
        if len(raw) != 6:
            raise _field_count(raw)
        fields = tuple(f.upper() for f in raw)
        dom, dow = fields[2], fields[4]
        if (dom == "?") == (dow == "?"):
            raise CronError(
                "day-of-month and day-of-week cannot both be given"
                if dom != "?"
                else "day-of-month and day-of-week cannot both be '?'",
                field="day-of-week",
                token=raw[4],
                fix="put '?' in exactly one of them: `0 8 ? * MON-FRI *` (weekdays) or "
                "`0 8 * * ? *` (every day)",
            )
        special: list[tuple[str, str]] = []
        days_of_month = None if dom == "?" else _days_of_month(dom, special)
        days_of_week = None if dow == "?" else _days_of_week(dow, special)
        return cls(
            fields=fields,
            minutes=_field("minutes", fields[0]),
            hours=_field("hours", fields[1]),
            days_of_month=days_of_month,
            months=_field("month", fields[3]),
            days_of_week=days_of_week,
            years=None if fields[5] == "*" else _field("year", fields[5]),
            special=tuple(special),
        )

    def not_weekly(self) -> tuple[str, str] | None:
        """(field, why) when the expression picks days of the month, months or years — a
        pattern that does not repeat every week — else None."""
        for field, token in self.special:
            if field == "day-of-week":
                return field, f"'{token}' picks a week of the month"
            return field, f"'{token}' picks a day of the month"
        if self.days_of_month is not None and len(self.days_of_month) < 31:
            return "day-of-month", f"'{self.fields[2]}' picks days of the month"
        if len(self.months) < 12:
            return "month", f"'{self.fields[3]}' picks months"
        if self.years is not None and len(self.years) < 2199 - 1970 + 1:
            return "year", f"'{self.fields[5]}' picks years"
        return None

    def weekly_minutes(self) -> list[int]:
        """The minutes of the week (local time, Monday 00:00 = 0) at which it fires, sorted.
        Raises `NotWeekly` (index 0) when it is not a weekly pattern."""
        why = self.not_weekly()
        if why is not None:
            raise NotWeekly(f"cron '{self.text}': {why[1]}", index=0, field=why[0])
        # Day-of-week counts 1 = Sunday; the week here starts on Monday.
        days = (
            range(7)
            if self.days_of_week is None
            else sorted((d - 2) % 7 for d in self.days_of_week)
        )
        return sorted(
            day * 1440 + hour * 60 + minute
            for day in days
            for hour in self.hours
            for minute in self.minutes
        )

    @property
    def numeric_days_of_week(self) -> bool:
        """Whether day-of-week names days by number (1 = Sunday, unlike Unix cron's 1 = Monday)."""
        return bool(self.days_of_week) and bool(re.search(r"(^|[,\-])[0-9]", self.fields[4]))


@cache
def parse(text: str) -> Cron:
    """`Cron.parse`, remembered (rules and the profile parse the same expressions)."""
    return Cron.parse(text)


def _unwrap(text: str) -> str:
    body = text.strip()
    lower = body.lower()
    for kind in ("rate(", "at("):
        if lower.startswith(kind):
            raise CronError(
                f"{kind[:-1]}(...) expressions are not supported here",
                field=None,
                token=body,
                fix=f"write a cron of six fields, e.g. `{EXAMPLE}`: a weekly pattern is what "
                "`plan` can cost",
            )
    if lower.startswith("cron(") or body.endswith(")"):
        if not (lower.startswith("cron(") and body.endswith(")")):
            raise CronError(
                "unbalanced cron(...)",
                field=None,
                token=body,
                fix=f"write `cron({EXAMPLE})` or just the six fields `{EXAMPLE}`",
            )
        body = body[5:-1]
    return body


def _field_count(raw: list[str]) -> CronError:
    n = len(raw)
    if n == 7:
        return CronError(
            "7 fields: Application Auto Scaling's seconds field does not guarantee the second, "
            "and some consoles do not show it",
            field="minutes",
            token=raw[0],
            fix=f"drop the seconds: `{' '.join(raw[1:])}`",
        )
    if n == 5:
        return CronError(
            "5 fields: that is Unix cron; Application Auto Scaling takes six (a year last) and "
            "counts day-of-week 1-7 from Sunday",
            field="year",
            token=None,
            fix=f"write `{_from_unix(raw)}`",
        )
    return CronError(
        f"{n} field(s); Application Auto Scaling's cron has six: minutes hours day-of-month "
        "month day-of-week year",
        field=None,
        token=" ".join(raw) or None,
        fix=f"e.g. `{EXAMPLE}` (08:00 Monday to Friday)",
    )


def _from_unix(raw: list[str]) -> str:
    """A 5-field Unix cron in Application Auto Scaling's words (a suggestion for the fix)."""
    minute, hour, dom, month, dow = raw

    def day(token: str) -> str:
        return DAYS[int(token) % 7] if token.isdigit() and int(token) <= 7 else token

    if dow in ("*", "?"):
        return f"{minute} {hour} {dom if dom != '?' else '*'} {month} ? *"
    words = ",".join("-".join(day(t) for t in part.split("-")) for part in dow.split(","))
    return f"{minute} {hour} ? {month} {words} *"


def _number(field: str, token: str, item: str) -> int:
    names = _NAMES.get(field, ())
    if token in names:
        return names.index(token) + 1
    low, high = _RANGE[field]
    if not token.isdigit():
        spelled = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
        raise CronError(
            f"{field}: '{item}' is not a value",
            field=field,
            token=item,
            fix=f"use {spelled}",
        )
    value = int(token)
    if not low <= value <= high:
        extra = " (1 = SUN ... 7 = SAT)" if field == "day-of-week" else ""
        raise CronError(
            f"{field}: {value} is outside {low}-{high}{extra}",
            field=field,
            token=item,
            fix=f"use {low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else ""),
        )
    return value


def _field(field: str, text: str) -> frozenset[int]:
    """A field of values: `*`, `a`, `a-b`, with `/step` where allowed, joined by commas."""
    low, high = _RANGE[field]
    out: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        if "/" in item:
            if field not in _STEP:
                raise CronError(
                    f"{field}: '/' is not allowed here",
                    field=field,
                    token=item,
                    fix="list the days instead, e.g. MON,WED,FRI",
                )
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(
                    f"{field}: '{item}' needs a whole step of 1 or more after '/'",
                    field=field,
                    token=item,
                    fix=f"e.g. 0/15 (every 15 from 0) or {low}/1",
                )
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif base.count("-") == 1 and base[0] != "-":
            a, b = base.split("-")
            first, last = _number(field, a, item), _number(field, b, item)
            if first > last:
                raise CronError(
                    f"{field}: range '{base}' runs backwards",
                    field=field,
                    token=item,
                    fix=f"write it as two ranges, e.g. {a}-{_spell(field, high)},"
                    f"{_spell(field, low)}-{b}",
                )
        elif base:
            first = _number(field, base, item)
            last = high if step_text else first
        else:
            raise CronError(
                f"{field}: empty value in '{text}'",
                field=field,
                token=text,
                fix="remove the stray comma or slash",
            )
        out.update(range(first, last + 1, step))
    return frozenset(out)


def _spell(field: str, value: int) -> str:
    names = _NAMES.get(field)
    return names[value - 1] if names else str(value)


def _days_of_month(text: str, special: list[tuple[str, str]]) -> frozenset[int] | None:
    values: list[str] = []
    for item in text.split(","):
        if re.fullmatch(r"L(-([0-9]{1,2}))?|LW|([0-9]{1,2})W", item):
            offset = re.fullmatch(r"L-([0-9]{1,2})", item)
            day = re.fullmatch(r"([0-9]{1,2})W", item)
            if (offset and not 1 <= int(offset.group(1)) <= 30) or (
                day and not 1 <= int(day.group(1)) <= 31
            ):
                raise CronError(
                    f"day-of-month: '{item}' is outside the month",
                    field="day-of-month",
                    token=item,
                    fix="use L, L-1 ... L-30, LW or 1W ... 31W",
                )
            if len(text.split(",")) > 1:
                raise CronError(
                    f"day-of-month: '{item}' cannot be combined with other days",
                    field="day-of-month",
                    token=text,
                    fix=f"use '{item}' alone, or list days without it",
                )
            special.append(("day-of-month", item))
        else:
            values.append(item)
    return _field("day-of-month", ",".join(values)) if values else frozenset()


def _days_of_week(text: str, special: list[tuple[str, str]]) -> frozenset[int] | None:
    items = text.split(",")
    for item in items:
        if "#" in item:
            m = re.fullmatch(r"([1-7]|[A-Z]{3})#([1-5])", item)
            if m is None or (m.group(1).isalpha() and m.group(1) not in DAYS):
                raise CronError(
                    f"day-of-week: '{item}' is not a weekday and its week of the month",
                    field="day-of-week",
                    token=item,
                    fix="e.g. 3#2 or TUE#2 (the second Tuesday of the month)",
                )
            if len(items) > 1:
                raise CronError(
                    "day-of-week: a '#' day must stand alone ('3#1,6#3' is not supported)",
                    field="day-of-week",
                    token=text,
                    fix=f"use '{item}' alone, in an action of its own per day",
                )
            special.append(("day-of-week", item))
            return frozenset()
        m = re.fullmatch(r"([1-7]|[A-Z]{3})L", item)
        if m is not None and (m.group(1).isdigit() or m.group(1) in DAYS):
            if len(items) > 1:
                raise CronError(
                    f"day-of-week: '{item}' cannot be combined with other days",
                    field="day-of-week",
                    token=text,
                    fix=f"use '{item}' alone",
                )
            special.append(("day-of-week", item))
            return frozenset()
    # `L` alone is the last day of the week: Saturday (7).
    return _field("day-of-week", ",".join("7" if i == "L" else i for i in items))


# --- the weekly profile ---------------------------------------------------------------------


@cache
def standard_offset_minutes(timezone: str) -> int:
    """The zone's offset from UTC in standard time (without daylight saving), in minutes."""
    zone = ZoneInfo(timezone)
    for probe in (datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 7, 15, 12, tzinfo=UTC)):
        local = probe.astimezone(zone)
        if not local.dst():
            return int(local.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    local = probe.astimezone(zone)
    return int((local.utcoffset() - local.dst()).total_seconds() // 60)  # type: ignore[operator]


def utc_minutes(action: Action) -> list[int]:
    """When ``action`` fires, as minutes of the reference week in UTC (Monday 00:00 UTC = 0),
    sorted. Raises `CronError` or `NotWeekly` (index 0)."""
    local = parse(action.cron).weekly_minutes()
    offset = standard_offset_minutes(action.timezone)
    return sorted((m - offset) % MINUTES_PER_WEEK for m in local)


def weekly_bounds(
    schedule: Sequence[Action], default_min: int, default_max: int
) -> list[tuple[float, float, int, int]]:
    """The (min, max) bounds a schedule keeps over one reference week in UTC.

    Returns contiguous segments ``(start_hour, end_hour, min, max)`` that cover [0, 168):
    hour 0 is Monday 00:00 UTC, hours are fractional (an action at 07:30 starts a segment at
    7.5), neighbouring segments always differ in their bounds. In each segment the bounds are
    those of the last action fired before it, wrapping around the week: before the week's
    first firing, the bounds are those of the week's last firing (the week before's). With no
    actions the whole week is ``(default_min, default_max)``, the scalable target's own range;
    with actions the defaults never apply, as Application Auto Scaling keeps an action's
    bounds until the next one fires.

    Each action fires at its cron in its own time zone, laid on the week at that zone's
    standard time (its UTC offset without daylight saving). Application Auto Scaling follows
    daylight saving (an 08:00 action stays at 08:00 local), so in summer every firing is an
    hour earlier in UTC than here; the hours each bound is in force are the same, so a cost
    computed from the profile is the same all year (models in zones with different
    daylight-saving rules shift against each other by that hour). Actions that fire in the
    same minute take effect in their order in ``schedule``: the later one wins.

    Raises `NotWeekly` (a `ValueError`, with the action's index and the field) when an action
    names days of the month, months or years — a pattern that does not repeat every week; the
    caller then says "not a weekly pattern, ignored for cost". Raises `CronError` (also a
    `ValueError`) for an expression Application Auto Scaling would refuse.
    """
    events: list[tuple[int, int, int, int]] = []  # (minute, index, min, max)
    for index, action in enumerate(schedule):
        try:
            minutes = utc_minutes(action)
        except NotWeekly as exc:
            raise NotWeekly(
                f"schedule[{index}] ({action.cron}): {str(exc).split(': ', 1)[-1]}: not a weekly "
                "pattern",
                index=index,
                field=exc.field,
            ) from None
        events.extend((m, index, action.min, action.max) for m in minutes)
    if not events:
        return [(0.0, 168.0, default_min, default_max)]
    events.sort()
    in_force = (events[-1][2], events[-1][3])
    segments: list[tuple[float, float, int, int]] = []
    start = 0
    for minute, _, low, high in events:
        if (low, high) == in_force:
            continue
        if minute > start:
            segments.append((start / 60, minute / 60, *in_force))
        start, in_force = minute, (low, high)
    segments.append((start / 60, 168.0, *in_force))
    merged: list[tuple[float, float, int, int]] = []
    for seg in segments:  # same-minute actions can leave equal neighbours
        if merged and merged[-1][2:] == seg[2:]:
            merged[-1] = (merged[-1][0], seg[1], *seg[2:])
        else:
            merged.append(seg)
    return merged


# --- the checks both front ends run ---------------------------------------------------------


def action_names(schedule: Sequence[str | None]) -> list[str]:
    """Each action's ScheduledActionName: its own name, else ``schedule-<position from 1>``."""
    return [name or f"schedule-{i + 1}" for i, name in enumerate(schedule)]


def check_actions(
    schedule: Sequence[Action],
    names: Sequence[str | None],
    *,
    upper: int,
    lower: int = 0,
    unit: str = "copies",
) -> Iterator[Finding]:
    """The checks of each action that need no spec: its cron parses, min ≤ max, max within
    ``upper`` (copies.max, or a dedicated endpoint's instances.max), min at least ``lower``
    (1 instance for a dedicated endpoint), max not 0, names unique. Each `Finding`'s field
    is ``schedule.<index>.<key>`` (key: cron, min, max, name)."""
    limit = f"{unit}.max" if unit == "copies" else "instances.max"
    for i, a in enumerate(schedule):
        here = f"schedule.{i}"
        try:
            cron = parse(a.cron)
        except CronError as exc:
            yield Finding("schedule-cron-valid", f"{here}.cron", exc.reason, a.cron, exc.fix)
        else:
            if cron.numeric_days_of_week:
                days = ",".join(DAYS[(d - 1)] for d in sorted(cron.days_of_week or ()))
                yield Finding(
                    "schedule-days-by-name",
                    f"{here}.cron",
                    f"day-of-week '{cron.fields[4]}' counts from 1 = Sunday (not Monday, as "
                    f"Unix cron does): it means {days}",
                    a.cron,
                    f"name the days, e.g. `{EXAMPLE}`",
                    severity="warning",
                )
        if a.min > a.max:
            yield Finding(
                "schedule-min-within-max",
                f"{here}.min",
                f"min is above max ({a.max}): Application Auto Scaling refuses the action",
                a.min,
                f"set min: {a.max} or max: {a.min}",
            )
        if a.max > upper:
            yield Finding(
                "schedule-max-within-range",
                f"{here}.max",
                f"is above {limit} ({upper}), the most that capacity planning holds room for",
                a.max,
                f"set max: {upper} or less, or raise {limit} to {a.max}",
            )
        if a.max == 0 and lower == 0:
            yield Finding(
                "schedule-max-above-zero",
                f"{here}.max",
                "max 0 would keep the model at zero copies: every request is refused, and the "
                "wake-from-zero alarm cannot add a copy (and a maximum of 0 is not documented "
                "for SageMaker)",
                0,
                "set max: 1 or more with min: 0: the model still goes to zero when idle, and "
                "the first request wakes it",
            )
        if a.min < lower:
            yield Finding(
                "schedule-dedicated-keeps-an-instance",
                f"{here}.min",
                "a single-model endpoint cannot scale to zero instances; SageMaker scales to "
                "zero only endpoints that host inference components",
                a.min,
                f"set min: {lower}, or move the model to a shared endpoint (spec.endpoint)",
            )
    seen: dict[str, int] = {}
    for i, name in enumerate(action_names(names)):
        if name in seen:
            first = seen[name]
            own = names[i] is not None
            yield Finding(
                "schedule-names-unique",
                f"schedule.{i}.name" if own else f"schedule.{first}.name",
                f"two scheduled actions are named '{name}' (schedule[{first}] and "
                f"schedule[{i}]); names are unique per scalable target",
                name,
                "give each action its own name (unnamed ones are schedule-<position>)",
            )
        seen.setdefault(name, i)
    if len(schedule) > MAX_ACTIONS:
        yield Finding(
            "schedule-cron-valid",
            "schedule",
            f"{len(schedule)} actions; Application Auto Scaling allows {MAX_ACTIONS} per "
            "scalable target",
            len(schedule),
            f"keep at most {MAX_ACTIONS}",
        )


def reaches_zero(schedule: Sequence[Action]) -> bool:
    """Whether some action lets the count go to 0 (the model then needs waking from zero)."""
    return any(a.min == 0 for a in schedule)


def same_minute(schedule: Sequence[Action]) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of weekly actions with different bounds that fire in the same
    minute of the reference week: which one wins is left to the order of execution."""
    fired: dict[int, int] = {}
    pairs: list[tuple[int, int]] = []
    for j, action in enumerate(schedule):
        try:
            minutes = utc_minutes(action)
        except ValueError:
            continue
        for m in minutes:
            i = fired.get(m)
            bounds = (schedule[i].min, schedule[i].max) if i is not None else None
            clash = i is not None and i != j and bounds != (action.min, action.max)
            if clash and (i, j) not in pairs:
                pairs.append((i, j))  # type: ignore[arg-type]
            fired[m] = j
    return pairs
