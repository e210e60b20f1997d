"""Rules about traffic profiles (`spec.traffic` of a Model or an Environment), registered into
`llmdeploy.plan.rules.RULES` on import. They keep `plan`'s expected cost honest: a day has 24
hours, and a profile names copies the model can actually run."""

from __future__ import annotations

from collections.abc import Iterator

from llmdeploy.errors import Diagnostic
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel
from llmdeploy.plan.rules import rule
from llmdeploy.plan.traffic import counts
from llmdeploy.spec.loader import EnvironmentDoc
from llmdeploy.spec.models import HoursPerDay

DAY = 24.0


def _hours_sum(source, path: tuple, hours: HoursPerDay) -> Iterator[Diagnostic]:
    total = hours.min + hours.initial + hours.max
    if abs(total - DAY) > 1e-6:
        rest = DAY - hours.max - hours.initial
        fix = (
            f"make them add up to 24, e.g. min: {rest:g}"
            if rest >= 0
            else "make min + initial + max add up to 24"
        )
        yield source.diagnostic(
            (*path, "hoursPerDay"),
            key=True,
            message=f"hours a day at min + initial + max add up to {total:g}, not 24 "
            f"({hours.min:g} + {hours.initial:g} + {hours.max:g})",
            value=total,
            fix=fix,
        )


@rule(
    "traffic-hours-add-up",
    "environment",
    "An environment's traffic.hoursPerDay adds up to 24 hours.",
)
def _environment_hours(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    traffic = doc.environment_spec.traffic
    if traffic is not None:
        yield from _hours_sum(doc.source, ("spec", "traffic"), traffic.hours_per_day)


@rule(
    "traffic-exactly-one",
    "model",
    "A model's traffic gives hoursPerDay or copiesByHour, one of the two.",
)
def _exactly_one(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    traffic = m.model_spec.traffic
    if traffic is None:
        return
    given = [f for f in ("hoursPerDay", "copiesByHour") if _get(traffic, f) is not None]
    if len(given) != 1:
        yield m.source.diagnostic(
            ("spec", "traffic"),
            "traffic gives both hoursPerDay and copiesByHour"
            if given
            else "traffic gives neither hoursPerDay nor copiesByHour",
            key=True,
            fix="keep one: `hoursPerDay: {min: 14, initial: 8, max: 2}` (hours a day at each "
            "point) or `copiesByHour: [...]` (24 numbers, the copies in each hour)",
        )


def _get(traffic, field: str):
    return traffic.hours_per_day if field == "hoursPerDay" else traffic.copies_by_hour


@rule(
    "traffic-hours-add-up-model",
    "model",
    "A model's traffic.hoursPerDay adds up to 24 hours.",
)
def _model_hours(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    traffic = m.model_spec.traffic
    if traffic is not None and traffic.hours_per_day is not None:
        yield from _hours_sum(m.source, ("spec", "traffic"), traffic.hours_per_day)


@rule(
    "traffic-within-copies",
    "model",
    "traffic.copiesByHour stays within copies.min..max (a dedicated model's instances).",
)
def _within(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    traffic = m.model_spec.traffic
    found = counts(m.model_spec)
    if traffic is None or traffic.copies_by_hour is None or found is None:
        return
    what, bounds = found
    for hour, copies in enumerate(traffic.copies_by_hour):
        if not bounds["min"] <= copies <= bounds["max"]:
            yield m.source.diagnostic(
                ("spec", "traffic", "copiesByHour", hour),
                f"{copies} in hour {hour:02d}:00 is outside {what} "
                f"{bounds['min']}..{bounds['max']}: autoscaling never goes there",
                value=copies,
                fix=f"keep each hour within {bounds['min']}..{bounds['max']}, or widen {what}",
            )
            return  # one is enough to say it; the fix covers the rest
