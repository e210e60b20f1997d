"""Traffic profiles: how many copies each model runs over a week, for an expected monthly cost.

A profile is piecewise constant over one reference week in UTC (hour 0 = Monday 00:00 UTC,
168 hours). It comes from, in this order of precedence:

1. the model's `spec.traffic` (`hoursPerDay` or `copiesByHour`), else
2. the environment's `spec.traffic` (`hoursPerDay`), else
3. copies.initial all week (the model as deployed);

then a model's `autoscaling.schedule` bounds it: in each hour the copies are clamped into the
scheduled [min, max] in force then (`plan.schedule.weekly_bounds`). `hoursPerDay` is laid on the
clock from 08:00 in the profile's time zone: the hours at max first, then at initial, then at
min; every model's busy hours fall together, which is the costly case for a shared endpoint.

For a dedicated endpoint the "copies" are its instances (min / initial / max of
`dedicated.instances`).

Time zones count at their standard time (their UTC offset without daylight saving), as
`plan.schedule` lays schedules: daylight saving moves a profile by an hour for part of the
year, which changes no sum of hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from llmdeploy.spec.models import EnvironmentTraffic, ModelSpec, Traffic

WEEK_HOURS = 168.0
DAY_START_HOUR = 8.0  # where hoursPerDay's busy hours begin, in the profile's time zone
REFERENCE_MONDAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
POINTS = ("min", "initial", "max")

Segment = tuple[float, float, int]  # [start, end) hours into the week, copies


@dataclass(frozen=True)
class Profile:
    """A model's copies over the reference week, and what they were derived from."""

    segments: tuple[Segment, ...]  # contiguous, covering [0, 168)
    basis: str  # "model traffic" | "environment traffic" | "copies.initial" (+ " within schedule")
    note: str | None = None  # e.g. why a schedule was left out

    def at(self, hour: float) -> int:
        for start, end, copies in self.segments:
            if start <= hour < end:
                return copies
        raise ValueError(f"hour {hour} is outside the week")

    @property
    def average(self) -> float:
        return sum((e - s) * c for s, e, c in self.segments) / WEEK_HOURS


def counts(spec: ModelSpec) -> tuple[str, dict[str, int]] | None:
    """What a model's profile counts (copies, or a dedicated endpoint's instances), and its
    min / initial / max; None when it has neither (an adapter, or a spec that is incomplete)."""
    if spec.dedicated is not None:
        n = spec.dedicated.instances
        return "dedicated.instances", {"min": n.min, "initial": n.initial, "max": n.max}
    if spec.copies is not None:
        c = spec.copies
        return "copies", {"min": c.min, "initial": c.initial, "max": c.max}
    return None


@functools.cache
def utc_offset_hours(timezone: str) -> float:
    """The zone's standard-time offset from UTC in hours (daylight saving left out)."""
    moment = REFERENCE_MONDAY.astimezone(ZoneInfo(timezone))
    offset, saving = moment.utcoffset(), moment.dst()
    if offset is None:
        return 0.0
    return (offset - (saving or dt.timedelta(0))).total_seconds() / 3600


def _daily(traffic: Traffic | EnvironmentTraffic, counts: Mapping[str, int]) -> list[Segment]:
    """One local day as segments in local hours [0, 24)."""
    by_hour = getattr(traffic, "copies_by_hour", None)
    if by_hour is not None:
        return [(float(h), float(h + 1), int(c)) for h, c in enumerate(by_hour)]
    hours = traffic.hours_per_day
    assert hours is not None  # a Traffic holds one of the two (rule traffic-exactly-one)
    out: list[Segment] = []
    start = DAY_START_HOUR
    for point in ("max", "initial", "min"):
        length = float(getattr(hours, point))
        if length > 0:
            out.append((start, start + length, counts[point]))
            start += length
    return out


def _week(daily: Sequence[Segment], offset_hours: float) -> list[Segment]:
    """Repeat a local day over the week, shifted to UTC and wrapped into [0, 168)."""
    pieces: list[Segment] = []
    for day in range(7):
        for start, end, copies in daily:
            s = (day * 24 + start - offset_hours) % WEEK_HOURS
            length = end - start
            while length > 1e-9:
                take = min(length, WEEK_HOURS - s)
                pieces.append((s, s + take, copies))
                length -= take
                s = 0.0
    return pieces


def _cover(pieces: Sequence[Segment], fill: int) -> tuple[Segment, ...]:
    """Contiguous segments over [0, 168): ``pieces`` where given, ``fill`` elsewhere; equal
    neighbours merged."""
    cuts = sorted({0.0, WEEK_HOURS, *(p[0] for p in pieces), *(p[1] for p in pieces)})
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        if b - a < 1e-9:
            continue
        mid = (a + b) / 2
        value = next((c for s, e, c in pieces if s <= mid < e), fill)
        if out and out[-1][2] == value:
            out[-1] = (out[-1][0], b, value)
        else:
            out.append((a, b, value))
    return tuple(out)


def profile(
    counts: Mapping[str, int],
    traffic: Traffic | None,
    environment_traffic: EnvironmentTraffic | None,
    schedule: Sequence = (),
) -> Profile:
    """The copies over the week of one model whose copies.min / initial / max are ``counts``."""
    source = traffic or environment_traffic
    if source is None:
        segments = ((0.0, WEEK_HOURS, counts["initial"]),)
        basis = "copies.initial"
    else:
        daily = _daily(source, counts)
        segments = _cover(_week(daily, utc_offset_hours(source.timezone)), counts["initial"])
        basis = "model traffic" if traffic is not None else "environment traffic"
    if not schedule:
        return Profile(segments, basis)
    from llmdeploy.plan import schedule as schedules

    try:
        bounds = schedules.weekly_bounds(schedule, counts["min"], counts["max"])
    except ValueError as exc:
        return Profile(segments, basis, f"schedule left out of the expected cost: {exc}")
    return Profile(_clamp(segments, bounds), f"{basis} within schedule")


def _clamp(segments: Sequence[Segment], bounds: Sequence[tuple[float, float, int, int]]):
    cuts = sorted(
        {*(s[0] for s in segments), *(s[1] for s in segments)}
        | {*(b[0] for b in bounds), *(b[1] for b in bounds)}
    )
    pieces = []
    for a, b in itertools.pairwise(cuts):
        if b - a < 1e-9:
            continue
        mid = (a + b) / 2
        copies = next(c for s, e, c in segments if s <= mid < e)
        low, high = next((lo, hi) for s, e, lo, hi in bounds if s <= mid < e)
        pieces.append((a, b, min(max(copies, low), high)))
    return _cover(pieces, 0)


@dataclass(frozen=True)
class State:
    """A stretch of the week in which every model's copies stay the same."""

    hours_per_week: float
    copies: tuple[tuple[str, int], ...]  # (model, copies), in the models' order

    @property
    def monthly_hours(self) -> float:
        from llmdeploy.catalog.prices import HOURS_PER_MONTH

        return self.hours_per_week / WEEK_HOURS * HOURS_PER_MONTH


def states(profiles: Mapping[str, Profile]) -> list[State]:
    """The distinct joint states of several models over the week, each with its total hours
    (identical states at different times are one state)."""
    if not profiles:
        return [State(WEEK_HOURS, ())]
    cuts = sorted({c for p in profiles.values() for s in p.segments for c in s[:2]})
    merged: dict[tuple[tuple[str, int], ...], float] = {}
    for a, b in itertools.pairwise(cuts):
        if b - a < 1e-9:
            continue
        mid = (a + b) / 2
        key = tuple((name, p.at(mid)) for name, p in profiles.items())
        merged[key] = merged.get(key, 0.0) + (b - a)
    return [State(hours, key) for key, hours in merged.items()]
