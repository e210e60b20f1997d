"""Rules about schedules (registered into `llmdeploy.plan.rules.RULES` on import).

`autoscaling.schedule` compiles to Application Auto Scaling scheduled actions on the model's
scalable target (docs/scheduling.md). The checks of one schedule are `plan.schedule`'s
`check_actions`, which the constructs run too; here they are located in the spec, and the
rules that need the environment (the endpoint, the other models, an SLO) are added.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from llmdeploy.catalog import instances
from llmdeploy.errors import Diagnostic
from llmdeploy.plan import capacity, schedule
from llmdeploy.plan.checks import Finding
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel
from llmdeploy.plan.rules import rule
from llmdeploy.spec.models import ScheduledScaling

_PATH = ("spec", "autoscaling", "schedule")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def actions(m: ResolvedModel) -> tuple[ScheduledScaling, ...]:
    a = m.model_spec.autoscaling
    return a.schedule if a is not None else ()


def reaches_zero(m: ResolvedModel) -> bool:
    """Whether the model's copies may go to 0: copies.min 0, or a scheduled min of 0."""
    copies = m.model_spec.copies
    return bool(copies and copies.min == 0) or schedule.reaches_zero(actions(m))


def _findings(m: ResolvedModel) -> list[Finding]:
    acts = actions(m)
    if not acts:
        return []
    spec = m.model_spec
    if spec.dedicated is not None:
        upper, lower, unit = spec.dedicated.instances.max, 1, "instances"
    elif spec.copies is not None:
        upper, lower, unit = spec.copies.max, 0, "copies"
    else:
        upper, lower, unit = 1000, 0, "copies"  # shared-needs-resources-and-copies says why
    return list(
        schedule.check_actions(acts, [a.name for a in acts], upper=upper, lower=lower, unit=unit)
    )


def _located(m: ResolvedModel, rule_id: str) -> Iterator[Diagnostic]:
    acts = actions(m)
    for f in _findings(m):
        if f.rule != rule_id:
            continue
        parts = f.field.split(".")[1:]  # schedule.<index>.<key>
        path: tuple[str | int, ...] = _PATH
        key = False
        if parts:
            index = int(parts[0])
            path = (*_PATH, index, parts[1])
            if parts[1] == "name" and acts[index].name is None:
                path, key = (*_PATH, index), False
        d = m.source.diagnostic(path, f.message, key=key, value=f.value, fix=f.fix)
        yield dataclasses.replace(d, severity=f.severity)


def _one(rule_id: str, summary: str) -> None:
    def check(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]) -> Iterator[Diagnostic]:
        return _located(m, rule_id)

    rule(rule_id, "model", summary)(check)


_one(
    "schedule-cron-valid",
    "A scheduled action's cron is Application Auto Scaling's: six fields, one of day-of-month "
    "and day-of-week '?', values in range (docs/scheduling.md).",
)
_one(
    "schedule-days-by-name",
    "A cron names days of the week (MON-FRI), not numbers: 1 is Sunday there (a warning).",
)
_one("schedule-min-within-max", "A scheduled action's min is at most its max.")
_one(
    "schedule-max-within-range",
    "A scheduled max is at most copies.max (a dedicated endpoint's instances.max): capacity "
    "planning holds room for that many.",
)
_one(
    "schedule-max-above-zero",
    "A scheduled max is at least 1: at max 0 every request is refused and nothing wakes the model.",
)
_one(
    "schedule-dedicated-keeps-an-instance",
    "A dedicated endpoint's schedule keeps min ≥ 1 instance.",
)
_one("schedule-names-unique", "Scheduled actions of one model have distinct names.")


@rule(
    "schedule-weekly-pattern",
    "model",
    "A schedule repeats weekly (no days of the month, months or years), or `plan` ignores it "
    "for cost (a warning).",
)
def _weekly(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]) -> Iterator[Diagnostic]:
    for i, a in enumerate(actions(m)):
        try:
            cron = schedule.parse(a.cron)
        except schedule.CronError:
            continue  # schedule-cron-valid
        why = cron.not_weekly()
        if why is None:
            continue
        d = m.source.diagnostic(
            (*_PATH, i, "cron"),
            f"{why[0]} {why[1]}: not a weekly pattern; Application Auto Scaling runs it, but "
            "`plan` costs the model as if it had no schedule",
            value=a.cron,
            fix="use only minutes, hours and days of the week (e.g. `0 8 ? * MON-FRI *`) "
            "where the cost estimate matters",
        )
        yield dataclasses.replace(d, severity="warning")


@rule(
    "schedule-distinct-times",
    "model",
    "Two scheduled actions with different bounds do not fire in the same minute (a warning).",
)
def _distinct(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]) -> Iterator[Diagnostic]:
    acts = actions(m)
    for i, j in schedule.same_minute(acts):
        d = m.source.diagnostic(
            (*_PATH, j, "cron"),
            f"fires in the same minute as schedule[{i}] ('{acts[i].cron}' in "
            f"{acts[i].timezone}) with other bounds: Application Auto Scaling runs them one "
            "after the other, and which bounds stay is not a thing to rely on",
            value=acts[j].cron,
            fix="move one of them by a minute or more, or merge them",
        )
        yield dataclasses.replace(d, severity="warning")


@rule(
    "schedule-zero-endpoint-min",
    "model",
    "A schedule that takes every model of an endpoint to zero saves money only if the "
    "endpoint can release instances (a warning).",
)
def _zero_endpoint(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    copies = m.model_spec.copies
    ep = m.endpoint
    if ep is None or ep.instances.min == 0 or not schedule.reaches_zero(actions(m)):
        return
    others = env.models_on(ep.name)
    if not all(reaches_zero(o) for o in others):
        return
    if (
        copies is not None
        and copies.min == 0
        and all(o.model_spec.copies and o.model_spec.copies.min == 0 for o in others)
    ):
        return  # scale-to-zero-endpoint-min says it
    first = next(i for i, a in enumerate(actions(m)) if a.min == 0)
    d = m.source.diagnostic(
        (*_PATH, first, "min"),
        f"every model on endpoint '{ep.name}' can go to zero copies (by schedule or "
        f"copies.min), but the endpoint keeps instances.min: {ep.instances.min} instances "
        "running",
        value=0,
        fix=f"set instances.min: 0 on endpoint '{ep.name}' to stop paying for idle instances",
    )
    yield dataclasses.replace(d, severity="warning")


@rule(
    "schedule-zero-slo",
    "model",
    "A model with an SLO whose schedule goes to zero copies warns: requests that find no copy "
    "are refused while one starts.",
)
def _zero_slo(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    if spec.slo is None or spec.dedicated is not None or spec.copies is None:
        return
    if spec.copies.min == 0:
        return  # slo-scale-to-zero says it
    zero = [i for i, a in enumerate(actions(m)) if a.min == 0]
    if not zero:
        return
    a = actions(m)[zero[0]]
    d = m.source.diagnostic(
        (*_PATH, zero[0], "min"),
        f"from '{a.cron}' ({a.timezone}) the model may go to zero copies: requests that find "
        "none are refused with a no-capacity error until a copy has started (minutes), and no "
        "latency figure of the SLO holds for them",
        value=0,
        fix="keep min: 1 in the hours the SLO must hold, or accept cold starts then",
    )
    yield dataclasses.replace(d, severity="warning")


# --- the endpoint ------------------------------------------------------------------------------


def _floors(m: ResolvedModel) -> list[tuple[float, float, int]]:
    """The model's minimum copies over the reference week: (start, end, min) segments. A
    schedule that is not weekly counts at its highest min all week (the safe side)."""
    copies = m.model_spec.copies
    assert copies is not None
    acts = actions(m)
    try:
        return [
            (s, e, low) for s, e, low, _ in schedule.weekly_bounds(acts, copies.min, copies.max)
        ]
    except ValueError:
        return [(0.0, 168.0, max([copies.min, *(a.min for a in acts)]))]


def _when(hour: float) -> str:
    day, rest = divmod(hour, 24)
    return f"{_DAYS[int(day)]} {int(rest):02d}:{round(rest % 1 * 60):02d} UTC"


@rule(
    "schedule-endpoint-capacity",
    "endpoint",
    "instances.max of an endpoint holds the copies the models' schedules keep at least, at "
    "every hour of the week.",
)
def _capacity(env: ResolvedEnvironment) -> Iterator[Diagnostic]:
    for i, ep in enumerate(env.doc.environment_spec.endpoints):
        inst = instances.get(ep.instance_type)
        models = [m for m in env.models_on(ep.name) if m.demand and m.model_spec.copies]
        scheduled = [m for m in models if actions(m)]
        if inst is None or not scheduled or not all(m.demand.fits(inst) for m in models):
            continue
        floors = {m.name: _floors(m) for m in models}
        cuts = sorted({s for segs in floors.values() for s, _, _ in segs})
        base = {m.name: m.model_spec.copies.min for m in models}  # endpoint-capacity's point
        worst: tuple[int, float, dict[str, int], capacity.Packing] | None = None
        seen: set[tuple[int, ...]] = set()
        for hour in cuts:
            counts = {
                name: next(low for s, e, low in segs if s <= hour < e)
                for name, segs in floors.items()
            }
            key = tuple(counts[m.name] for m in models)
            if key in seen or counts == base:
                continue
            seen.add(key)
            packing = capacity.pack([m.demand for m in models for _ in range(counts[m.name])], inst)
            if packing is None:
                continue
            if packing.instances > ep.instances.max and (
                worst is None or packing.instances > worst[0]
            ):
                worst = (packing.instances, hour, counts, packing)
        if worst is None:
            continue
        needed, hour, counts, packing = worst
        who = ", ".join(f"{name} ×{n}" for name, n in counts.items() if n)
        yield env.doc.source.diagnostic(
            ("spec", "endpoints", i, "instances", "max"),
            f"from {_when(hour)} (standard time) the models' schedules keep at least {who} "
            f"copies on endpoint '{ep.name}': that needs {needed} × {ep.instance_type} but the "
            f"endpoint may grow to only {ep.instances.max}"
            + ("" if packing.optimal else " (a heuristic packing: maybe fewer)")
            + "; the scheduled scale-out would stop short",
            value=ep.instances.max,
            fix=f"set instances.max: {needed} or more, lower the scheduled min of those "
            "models, or move a model to another endpoint",
        )
