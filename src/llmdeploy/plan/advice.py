"""`plan --suggest`: where the same copies could be hosted for less, or do not fit at all."""

from __future__ import annotations

from dataclasses import dataclass

from llmdeploy.catalog import instances, prices
from llmdeploy.catalog.prices import HOURS_PER_MONTH
from llmdeploy.plan.capacity import pack
from llmdeploy.plan.cost import POINTS, EndpointPlan, EnvironmentPlan, fits_copy
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel


@dataclass(frozen=True)
class Suggestion:
    endpoint: str
    kind: str  # instance-type | instances-min | instances-max
    message: str
    monthly_saving_usd: float | None  # None: no saving, a capacity problem


def suggest(env: ResolvedEnvironment, plan: EnvironmentPlan) -> list[Suggestion]:
    out: list[Suggestion] = []
    for e in plan.endpoints:
        models = [
            m
            for m in env.models
            if (m.name == e.name if e.dedicated else m.endpoint and m.endpoint.name == e.name)
        ]
        if not e.dedicated:
            out.extend(_instance_counts(e))
        best = _cheaper_type(env, e, models)
        if best:
            out.append(best)
        if not e.dedicated:
            dedicated = _dedicated_cheaper(e, plan)
            if dedicated:
                out.append(dedicated)
    return out


def _dedicated_cheaper(e: EndpointPlan, plan: EnvironmentPlan) -> Suggestion | None:
    """Where the endpoint's models, each on its own dedicated instances (plan's baseline),
    would cost less than the endpoint at some point: `plan` shows the ratio, and a suggestion
    must not then say that nothing is cheaper."""
    baselines = {b.model: b for b in plan.baselines}
    mine = [baselines.get(m.name) for m in e.models]
    if e.hourly_usd is None or not mine or any(b is None for b in mine):
        return None
    cheaper = []
    for p in POINTS:
        shared = e.points[p].monthly_usd
        costs = [b.monthly_usd[p] for b in mine if b is not None]
        if shared is None or None in costs:
            continue
        dedicated = sum(c for c in costs if c is not None)
        if dedicated < shared:
            cheaper.append((p, dedicated, shared))
    if not cheaper:
        return None
    where = ", ".join(f"{p} copies ({_usd(d)} against {_usd(sh)} a month)" for p, d, sh in cheaper)
    types = "; ".join(
        f"{b.model} on {b.instances['initial']} × {b.instance_type}"
        for b in mine
        if b is not None and b.instance_type
    )
    saving = max(sh - d for _, d, sh in cheaper)
    return Suggestion(
        e.name,
        "dedicated",
        f"dedicated hosting is cheaper at {where}: {types}. Give these models `dedicated:` "
        "endpoints, or put more models on this one so that its instances fill up",
        saving,
    )


def _instance_counts(e: EndpointPlan) -> list[Suggestion]:
    out = []
    peak = e.points["max"]
    if peak.needed is not None and peak.needed > e.instances["max"]:
        out.append(
            Suggestion(
                e.name,
                "instances-max",
                f"the models' max copies need {peak.needed} × {e.instance_type} but instances.max "
                f"is {e.instances['max']}: set instances.max: {peak.needed}, or copies beyond "
                f"{e.instances['max']} instances will never be placed",
                None,
            )
        )
    idle = e.points["min"]
    if idle.needed is not None and idle.needed < e.instances["min"]:
        spare = e.instances["min"] - idle.needed
        saving = None if e.hourly_usd is None else spare * e.hourly_usd * HOURS_PER_MONTH
        out.append(
            Suggestion(
                e.name,
                "instances-min",
                f"at min copies the models need {idle.needed} instance(s) but instances.min keeps "
                f"{e.instances['min']}: instances.min: {idle.needed} saves {_usd(saving)}/month "
                "while idle",
                saving,
            )
        )
    return out


def _cheaper_type(
    env: ResolvedEnvironment, e: EndpointPlan, models: list[ResolvedModel]
) -> Suggestion | None:
    """The cheapest other priced type that holds the same copies at every point (min,
    initial and max) for no more at any of them and less at initial copies."""
    # Compare the copies' own needs on both types; instances kept by instances.min or
    # instances.initial beyond those needs are the instance-count suggestions' business.
    needed = {p: e.points[p].needed for p in POINTS}
    if e.hourly_usd is None or None in needed.values() or not models or not needed["initial"]:
        return None
    current = {p: needed[p] * e.hourly_usd * HOURS_PER_MONTH for p in POINTS}
    overrides = env.doc.environment_spec.pricing
    here = instances.get(e.instance_type)
    best: tuple[float, str, dict[str, int], dict[str, float]] | None = None
    for inst in instances.all_types():
        price = prices.hourly(inst.name, overrides)
        if inst.name == e.instance_type or price is None or here is None:
            continue
        if not all(fits_copy(m, inst) for m in models):
            continue
        if e.dedicated:
            # A dedicated instance runs devices / TP model workers: keep at least as many.
            tp = models[0].devices_per_replica or 1
            if inst.devices // tp < here.devices // tp:
                continue
            counts = dict(e.instances)
        else:
            counts = {}
            for p in POINTS:
                copies = [m.demand for m in models for _ in range(getattr(m.model_spec.copies, p))]
                packing = pack(copies, inst, search_nodes=2_000, exact_nodes=0)
                counts[p] = packing.instances if packing else 0
        cost = {p: counts[p] * price.usd_per_hour * HOURS_PER_MONTH for p in POINTS}
        if any(cost[p] > current[p] for p in POINTS) or cost["initial"] >= current["initial"]:
            continue
        if best is None or cost["initial"] < best[0]:
            best = (cost["initial"], inst.name, counts, cost)
    if best is None:
        return None
    _, name, counts, cost = best
    saving = current["initial"] - cost["initial"]
    shape = " / ".join(str(counts[p]) for p in POINTS)
    costs = " / ".join(f"{_usd(cost[p])} (now {_usd(current[p])})" for p in POINTS)
    resize = (
        ""
        if e.dedicated
        else (
            f"; set instances to min {min(counts['min'], e.instances['min'])}, max {counts['max']}"
        )
    )
    return Suggestion(
        e.name,
        "instance-type",
        f"{name} holds the same copies on {shape} instances at min / initial / max copies, "
        f"for {costs} a month: saves {_usd(saving)}/month at initial copies "
        f"({saving / current['initial']:.0%}){resize}",
        saving,
    )


def _usd(value: float | None) -> str:
    return "an unknown amount" if value is None else f"${value:,.0f}"
