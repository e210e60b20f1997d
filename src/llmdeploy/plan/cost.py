"""Capacity and cost of an environment: what each endpoint needs and costs, and what the same
portfolio would cost hosted the old way (each model on dedicated instances, never at zero).

Three points are planned: every model at `copies.min` (idle), at `copies.initial` (as
deployed) and at `copies.max` (peak). At each, the copies are packed onto the endpoint's
instance type; the endpoint runs that many instances, but never fewer than its
`instances.min` (or `instances.initial` when deployed) nor more than its `instances.max`.
Prices are on-demand, 730 hours a month; an unknown price makes a cost unknown, never zero.

A fourth figure, `expected`, weighs the week's states by their hours: each model's traffic
profile (`plan.traffic`: its own, the environment's, or copies.initial all week), within its
schedule. Every cost object (`monthly_usd`, the comparison and the ratio) carries all four.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from llmdeploy.catalog import instances, prices
from llmdeploy.catalog.instances import InstanceType
from llmdeploy.catalog.prices import HOURS_PER_MONTH
from llmdeploy.plan import capacity, memory, traffic
from llmdeploy.plan.capacity import Demand, pack, per_instance
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel, usable_mib_per_device

Point = Literal["min", "initial", "max"]
POINTS: tuple[Point, ...] = ("min", "initial", "max")
FIGURES = (*POINTS, "expected")  # the keys of every cost object
# Packing budgets for the week's states other than the three points (they are many where
# profiles differ): the heuristic and a short search, no integer program.
STATE_SEARCH_NODES = 2_000


@dataclass(frozen=True)
class ModelNeeds:
    name: str
    endpoint: str
    demand: Demand | None  # one copy; None for a dedicated model (it takes whole instances)
    copies: dict[str, int]  # per point
    weights_gib: float | None  # all of one copy's weights, where sizeBillions is known
    weights_gib_per_device: float | None
    kv_cache_gib_per_device: float | None  # device memory left to vLLM after the weights
    # LoRA adapters served on this model's copies: no devices of their own.
    adapters: tuple[str, ...] = ()


@dataclass(frozen=True)
class PointPlan:
    copies: int
    needed: int | None  # instances the copies need (None: a copy fits no instance)
    optimal: bool  # `needed` is proven minimal
    running: int  # instances the endpoint runs: needed, within instances.min/initial..max
    holds: bool  # instances.max can hold the copies
    monthly_usd: float | None


@dataclass(frozen=True)
class UpdatePlan:
    """A rolling update of one model while every model is at copies.min: the update brings a
    batch of new copies up before the old ones go, so instances.max must hold both."""

    model: str | None  # the model whose batch needs the most room
    batch_copies: int
    copies: int  # every model's minimum copies plus that batch
    needed: int | None  # instances they need (None: a copy fits no instance)
    optimal: bool
    holds: bool  # instances.max holds them
    headroom: int | None  # instances.max - needed


@dataclass(frozen=True)
class ProfileBasis:
    model: str
    profile: str  # "model traffic", "environment traffic", "copies.initial" (+ "within schedule")


@dataclass(frozen=True)
class ExpectedPlan:
    """The endpoint over the week's states, weighted by their hours."""

    monthly_usd: float | None
    instance_hours: float  # per month
    average_instances: float
    peak_instances: int
    states: int  # distinct joint states of its models' copies over the week
    optimal: bool  # every state's packing is proven minimal
    holds: bool  # instances.max holds the copies in every state
    # Per model, where its profile came from: [{"model", "profile"}] (a list, so that JSON
    # keys stay field names rather than model names).
    basis: tuple[ProfileBasis, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointPlan:
    name: str
    instance_type: str
    dedicated: bool
    instances: dict[str, int]  # the spec's min / initial / max
    hourly_usd: float | None
    price_source: str | None
    models: tuple[ModelNeeds, ...]
    points: dict[str, PointPlan]
    # None for a dedicated endpoint: it has no copies; SageMaker replaces its whole fleet
    # blue/green, beside the old one, so instances.max does not bound an update.
    update: UpdatePlan | None = None
    expected: ExpectedPlan | None = None
    monthly_usd: dict[str, float | None] = field(default_factory=dict)  # per FIGURES


@dataclass(frozen=True)
class Baseline:
    """One model hosted the old way: its own endpoint of the cheapest type that fits a copy."""

    model: str
    instance_type: str | None  # None: no priced instance type fits one copy
    hourly_usd: float | None
    instances: dict[str, int]
    monthly_usd: dict[str, float | None]


@dataclass(frozen=True)
class EnvironmentPlan:
    name: str
    endpoints: tuple[EndpointPlan, ...]
    baselines: tuple[Baseline, ...]
    monthly_usd: dict[str, float | None]  # None where some endpoint's price is unknown
    monthly_usd_known: dict[str, float]  # over the endpoints whose price is known
    unknown_prices: tuple[str, ...]
    # Shared vs dedicated, over the endpoints and models where both costs are known.
    comparable_shared_usd: dict[str, float]
    comparable_dedicated_usd: dict[str, float]
    ratio: dict[str, float | None]
    excluded: tuple[str, ...] = field(default=())  # why something is left out of the ratio


def profiles(env: ResolvedEnvironment) -> dict[str, traffic.Profile]:
    """Each model's copies over the week (a dedicated model's instances); adapters and models
    whose spec lacks copies have none."""
    default = env.doc.environment_spec.traffic
    out = {}
    for m in env.models:
        found = traffic.counts(m.model_spec)
        if found is None:
            continue
        autoscaling = m.model_spec.autoscaling
        schedule = autoscaling.schedule if autoscaling is not None else ()
        out[m.name] = traffic.profile(found[1], m.model_spec.traffic, default, schedule)
    return out


def plan_environment(env: ResolvedEnvironment) -> EnvironmentPlan:
    overrides = env.doc.environment_spec.pricing
    weekly = profiles(env)
    endpoints = [_shared(env, i, weekly) for i in range(len(env.doc.environment_spec.endpoints))]
    endpoints += [_dedicated(m, overrides, weekly) for m in env.models if m.dedicated]
    # An adapter hosted the old way is a whole model of its own: its base's size and traffic.
    baselines = {
        m.name: _baseline(
            m.base if m.adapter and m.base else m,
            overrides,
            weekly.get(m.base.name if m.adapter and m.base else m.name),
            name=m.name,
        )
        for m in env.models
    }

    unknown = sorted({e.instance_type for e in endpoints if e.hourly_usd is None})
    known = {p: sum(e.monthly_usd[p] or 0.0 for e in endpoints) for p in FIGURES}
    totals = {p: None if unknown else known[p] for p in FIGURES}

    shared = {p: 0.0 for p in FIGURES}
    dedicated = {p: 0.0 for p in FIGURES}
    excluded: list[str] = []
    for e in endpoints:
        # Adapters count on the dedicated side (each a model of its own there), at nothing
        # on the shared one.
        names = [m.name for m in e.models] + [a for m in e.models for a in m.adapters]
        if e.hourly_usd is None:
            excluded.append(f"{e.name}: price of {e.instance_type} unknown")
            continue
        missing = [n for n in names if baselines[n].hourly_usd is None]
        if missing:
            excluded.append(
                f"{e.name}: no priced instance type fits one copy of {', '.join(missing)}"
            )
            continue
        for p in FIGURES:
            shared[p] += e.monthly_usd[p] or 0.0
            dedicated[p] += sum(baselines[n].monthly_usd[p] or 0.0 for n in names)
    ratio = {p: (dedicated[p] / shared[p] if shared[p] > 0 else None) for p in FIGURES}
    return EnvironmentPlan(
        name=env.name,
        endpoints=tuple(endpoints),
        baselines=tuple(baselines.values()),
        monthly_usd=totals,
        monthly_usd_known=known,
        unknown_prices=tuple(unknown),
        comparable_shared_usd=shared,
        comparable_dedicated_usd=dedicated,
        ratio=ratio,
        excluded=tuple(excluded),
    )


def _needs(m: ResolvedModel, endpoint: str, adapters: tuple[str, ...] = ()) -> ModelNeeds:
    spec = m.model_spec
    copies = spec.copies
    counts = {p: getattr(copies, p) for p in POINTS} if copies else {p: 0 for p in POINTS}
    weights = per_device = kv = None
    devices = m.devices_per_replica
    if m.weights_mib is not None and devices and m.instance is not None:
        weights = m.weights_mib / 1024
        per_device = weights / devices
        kv = usable_mib_per_device(m.instance) / 1024 - per_device
    return ModelNeeds(
        m.name,
        endpoint,
        None if m.dedicated else m.demand,
        counts,
        weights,
        per_device,
        kv,
        adapters,
    )


def _price(instance_type: str, overrides) -> tuple[float | None, str | None]:
    price = prices.hourly(instance_type, overrides)
    return (price.usd_per_hour, price.source) if price else (None, None)


def shared_fit(env: ResolvedEnvironment, index: int) -> capacity.EndpointFit | None:
    """The packings of a shared endpoint's copies (None: its instance type is unknown).
    `plan` shows them and `validate`'s capacity rules judge them: one computation."""
    return env.fit(env.doc.environment_spec.endpoints[index].name)


def _shared(
    env: ResolvedEnvironment, index: int, weekly: dict[str, traffic.Profile]
) -> EndpointPlan:
    ep = env.doc.environment_spec.endpoints[index]
    adapters: dict[str, list[str]] = {}
    for a in env.adapters_on(ep.name):
        if a.base is not None:
            adapters.setdefault(a.base.name, []).append(a.name)
    models = tuple(
        _needs(m, ep.name, tuple(adapters.get(m.name, ())))
        for m in env.models_on(ep.name)
        if m.demand
    )
    hourly, source = _price(ep.instance_type, env.doc.environment_spec.pricing)
    floors = {"min": ep.instances.min, "initial": ep.instances.initial, "max": ep.instances.min}
    fitted = shared_fit(env, index)
    points = {}
    for p in POINTS:
        packing = fitted.points[p].packing if fitted else None
        needed = packing.instances if packing else None
        running = min(max(needed or 0, floors[p]), ep.instances.max)
        points[p] = PointPlan(
            copies=sum(m.copies[p] for m in models),
            needed=needed,
            optimal=bool(packing and packing.optimal),
            running=running,
            holds=needed is not None and needed <= ep.instances.max,
            monthly_usd=None if hourly is None else running * hourly * HOURS_PER_MONTH,
        )
    update = None
    if fitted is not None:
        u = fitted.update
        needed = u.packing.instances if u.packing else None
        update = UpdatePlan(
            model=u.model,
            batch_copies=u.batch,
            copies=u.copies,
            needed=needed,
            optimal=bool(u.packing and u.packing.optimal),
            holds=needed is not None and needed <= ep.instances.max,
            headroom=None if needed is None else ep.instances.max - needed,
        )
    inst = instances.get(ep.instance_type)
    demands = {m.name: m.demand for m in models if m.demand is not None}
    mine = {n: weekly[n] for n in demands if n in weekly}
    expected = None
    if inst is not None:
        expected = expected_shared(
            mine, demands, inst, hourly, floor=ep.instances.min, ceiling=ep.instances.max
        )
    return EndpointPlan(
        ep.name,
        ep.instance_type,
        False,
        {"min": ep.instances.min, "initial": ep.instances.initial, "max": ep.instances.max},
        hourly,
        source,
        models,
        points,
        update,
        expected,
        _costs(points, expected),
    )


def _costs(points: dict[str, PointPlan], expected: ExpectedPlan | None) -> dict:
    return {p: points[p].monthly_usd for p in POINTS} | {
        "expected": expected.monthly_usd if expected is not None else None
    }


def expected_shared(
    weekly: dict[str, traffic.Profile],
    demands: dict[str, Demand],
    inst: InstanceType,
    hourly: float | None,
    *,
    floor: int = 0,
    ceiling: int | None = None,
) -> ExpectedPlan:
    """A shared endpoint of ``inst`` over the week: in each state its models' copies packed,
    the instances kept within [floor, ceiling]. The optimizer prices its pools with this too."""
    found = traffic.states(weekly)
    packed: dict[tuple, capacity.Packing | None] = {}
    hours = 0.0
    peak = 0
    optimal = holds = True
    for state in found:
        key = tuple(c for _, c in state.copies)
        if key not in packed:
            copies = [demands[n] for n, c in state.copies for _ in range(c)]
            packed[key] = pack(copies, inst, search_nodes=STATE_SEARCH_NODES, exact_nodes=0)
        packing = packed[key]
        needed = packing.instances if packing else 0
        optimal &= bool(packing and packing.optimal)
        holds &= packing is not None and (ceiling is None or needed <= ceiling)
        running = max(needed, floor)
        if ceiling is not None:
            running = min(running, ceiling)
        peak = max(peak, running)
        hours += running * state.monthly_hours
    notes = tuple(f"{n}: {p.note}" for n, p in weekly.items() if p.note)
    return ExpectedPlan(
        monthly_usd=None if hourly is None else hours * hourly,
        instance_hours=hours,
        average_instances=hours / HOURS_PER_MONTH,
        peak_instances=peak,
        states=len(found),
        optimal=optimal,
        holds=holds,
        basis=tuple(ProfileBasis(n, p.basis) for n, p in weekly.items()),
        notes=notes,
    )


def expected_dedicated(
    profile: traffic.Profile | None, hourly: float | None, counts: dict[str, int], model: str = ""
) -> ExpectedPlan:
    """A dedicated endpoint over the week: its instances follow the profile, within
    instances.min..max (never below one: such an endpoint does not scale to zero)."""
    segments = profile.segments if profile else ((0.0, traffic.WEEK_HOURS, counts["initial"]),)
    hours = peak = 0.0
    for start, end, n in segments:
        running = min(max(n, counts["min"], 1), max(counts["max"], 1))
        peak = max(peak, running)
        hours += running * (end - start) / traffic.WEEK_HOURS * HOURS_PER_MONTH
    return ExpectedPlan(
        monthly_usd=None if hourly is None else hours * hourly,
        instance_hours=hours,
        average_instances=hours / HOURS_PER_MONTH,
        peak_instances=int(peak),
        states=len({n for _, _, n in segments}),  # distinct instance counts over the week
        optimal=True,
        holds=True,
        basis=() if profile is None else (ProfileBasis(model, profile.basis),),
        notes=() if profile is None or not profile.note else (profile.note,),
    )


def _dedicated(m: ResolvedModel, overrides, weekly: dict[str, traffic.Profile]) -> EndpointPlan:
    ded = m.model_spec.dedicated
    assert ded is not None
    hourly, source = _price(ded.instance_type, overrides)
    counts = {p: getattr(ded.instances, p) for p in POINTS}
    points = {
        p: PointPlan(
            copies=counts[p],
            needed=counts[p],
            optimal=True,
            running=counts[p],
            holds=True,
            monthly_usd=None if hourly is None else counts[p] * hourly * HOURS_PER_MONTH,
        )
        for p in POINTS
    }
    expected = expected_dedicated(weekly.get(m.name), hourly, counts, model=m.name)
    return EndpointPlan(
        m.name,
        ded.instance_type,
        True,
        counts,
        hourly,
        source,
        (_needs(m, m.name),),
        points,
        None,
        expected,
        _costs(points, expected),
    )


def hardware_runs(m: ResolvedModel, inst: InstanceType) -> bool:
    """Whether ``inst``'s accelerators run ``m``'s engine and quantization at all."""
    if inst.kind != m.engine.accelerator:
        return False
    return m.model_spec.lmi.quantization != "fp8" or inst.supports_fp8


def shape_devices(m: ResolvedModel, inst: InstanceType) -> int | None:
    """The fewest devices of ``inst`` one copy of ``m`` needs by the shape rule (weights plus
    the KV cache where known: `plan.memory.fewest_devices`); None where the weights are
    unknown or even the whole instance cannot hold them. Dedicated hosting and the optimizer
    size copies with it."""
    arch = m.model_spec.architecture
    return memory.fewest_devices(
        m.weights_mib,
        memory.kv_cache_mib(m.model_spec),
        inst,
        kv_heads=arch.kv_heads if arch else None,
    )


def fits_copy(m: ResolvedModel, inst: InstanceType) -> bool:
    """Whether one copy of ``m``, as specified, could run on ``inst``."""
    spec = m.model_spec
    if not hardware_runs(m, inst):
        return False
    demand = m.demand
    devices = demand.devices if demand else (spec.lmi.tensor_parallel_degree or 1)
    if demand is not None and not demand.fits(inst):
        return False
    if devices > inst.devices:
        return False
    weights_mib = m.weights_mib
    return weights_mib is None or weights_mib <= devices * usable_mib_per_device(inst)


def dedicated_copy(m: ResolvedModel, inst: InstanceType) -> Demand | None:
    """One copy of ``m`` hosted the old way on ``inst``: a team would pick the tensor parallel
    degree for that hardware, so the devices are the fewest (1, 2, 4, ...) whose memory holds
    the weights and the KV cache (`plan.memory.fewest_devices`, the optimizer's rule too);
    host memory and CPU stay as specified. Where the weights are unknown, the
    copy keeps its specified devices. None if no copy fits."""
    demand = m.demand
    if demand is None or not hardware_runs(m, inst):
        return None
    devices = demand.devices
    if m.weights_mib is not None:
        found = shape_devices(m, inst)
        if found is None:
            return None
        devices = found
    copy = Demand(devices, demand.memory_mib, demand.cpu_cores)
    return copy if copy.fits(inst) else None


def _baseline(
    m: ResolvedModel, overrides, profile: traffic.Profile | None, *, name: str | None = None
) -> Baseline:
    """``m`` hosted the old way (as the model ``name``, where it stands in for an adapter)."""
    name = name or m.name
    if m.dedicated:  # already hosted the old way: the same endpoint on both sides
        ded = m.model_spec.dedicated
        hourly, _ = _price(ded.instance_type, overrides)
        counts = {p: getattr(ded.instances, p) for p in POINTS}
        expected = expected_dedicated(profile, hourly, counts).monthly_usd
        return Baseline(
            name,
            ded.instance_type,
            hourly,
            counts,
            {p: None if hourly is None else counts[p] * hourly * HOURS_PER_MONTH for p in POINTS}
            | {"expected": expected},
        )
    priced = [
        (price, inst, copy)
        for inst in instances.all_types()
        if (price := _price(inst.name, overrides)[0]) is not None
        and (copy := dedicated_copy(m, inst)) is not None
    ]
    if not priced:
        return Baseline(name, None, None, {p: 0 for p in POINTS}, {p: None for p in FIGURES})
    hourly, inst, copy = min(priced, key=lambda pic: (pic[0], pic[1].name))
    copies = m.model_spec.copies
    counts = {}
    for p in POINTS:
        # The old way never scales to zero: at least one copy, always.
        n = max(getattr(copies, p) if copies else 1, 1)
        counts[p] = pack([copy] * n, inst).instances  # type: ignore[union-attr]
    costs = {p: counts[p] * hourly * HOURS_PER_MONTH for p in POINTS}
    hours = (
        counts["initial"] * HOURS_PER_MONTH  # copies.initial all week: the initial point's
        if profile is None
        else dedicated_instance_hours(profile, per_instance(copy, inst))
    )
    return Baseline(name, inst.name, hourly, counts, costs | {"expected": hours * hourly})


def dedicated_instance_hours(profile: traffic.Profile, per_instance: int) -> float:
    """A month's instance-hours of a dedicated endpoint whose copies follow ``profile``,
    ``per_instance`` of them on each instance, never fewer than one instance (the old way
    does not scale to zero). Dedicated hosting here and the optimizer's dedicated option."""
    return sum(
        max(1, -(-n // per_instance)) * (end - start) / traffic.WEEK_HOURS * HOURS_PER_MONTH
        for start, end, n in profile.segments
    )
