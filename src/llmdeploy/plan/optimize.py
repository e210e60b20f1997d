"""`plan --optimize`: the cheapest layout of an environment's models, with a proven bound.

The search is over three choices per model: the instance type it runs on (every priced type
of its engine's accelerator kind, FP8 only where the hardware computes in FP8), the shape of
one copy there, and whether it shares a pool of that type with other models or has a
dedicated endpoint of its own. The objective is the expected monthly cost under the traffic
profiles (`plan.traffic`), the week's states weighted by their hours.

Shapes follow one stated rule: a copy gets the fewest devices (1, 2, 4, ...: a tensor
parallel degree dividing the instance's devices, and the KV heads where `architecture` gives
them) whose usable memory holds the weights plus the KV cache of maxRollingBatchSize
sequences of maxModelLen tokens (`plan.memory`; without `architecture` the weights alone,
as validate and plan's dedicated hosting count them). Host memory and CPU stay as
specified; a model that specifies none (a dedicated one) gets its devices' share of the
instance's. A model whose size is unknown
keeps its specified devices, on types whose devices are at least as large as its current
ones.

The solver:

1. Models with the same options and the same profile form a class; the classes' choices are
   an integer program (HiGHS through scipy's `milp`): how many models of each class go to
   each option; per pool type and state, the instances must cover the copies' demand in each
   dimension (devices, memory, CPU) — the packing's fractional bound, rounded up; dedicated
   endpoints cost what their copies need, never below one instance. Its optimum is a lower
   bound on any layout over these choices (two pools of one type never beat one: their
   bounds add up to at least the union's), and HiGHS's dual bound is one even when a
   deterministic node budget stops it first.
2. Each pool's copies are then packed for real in every state (`plan.capacity.pack`), which
   gives the layout's true expected cost; the gap to the bound is reported.
3. The layout is written as spec changes: new or resized endpoints, moved models, new
   accelerators and tensor parallel degrees. `--apply` re-checks the changed specs with every
   rule before writing anything.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from llmdeploy.catalog import instances, prices
from llmdeploy.catalog.instances import InstanceType
from llmdeploy.catalog.prices import HOURS_PER_MONTH
from llmdeploy.errors import LlmdeployError
from llmdeploy.plan import capacity, traffic
from llmdeploy.plan.capacity import Demand, pack
from llmdeploy.plan.cost import (
    FIGURES,
    POINTS,
    EnvironmentPlan,
    dedicated_instance_hours,
    expected_shared,
    hardware_runs,
    profiles,
    shape_devices,
)
from llmdeploy.plan.resolve import ResolvedEnvironment, ResolvedModel, usable_mib_per_device

# The integer program's deterministic budget (branch-and-bound nodes), the gap to its own
# bound at which it may stop, and a safety net in seconds.
MILP_NODES = 2_000
MILP_GAP = 0.005
MILP_SECONDS = 8.0
# What a move costs in the objective (USD a month): among layouts of equal cost, the one that
# moves fewest models wins, and a second run of --optimize proposes nothing new.
MOVE_USD = 0.01
POOL_SUFFIX = "pool"


@dataclass(frozen=True)
class Option:
    """One way to host one model: a pool of ``instance_type`` or a dedicated endpoint."""

    kind: str  # "pool" | "dedicated"
    instance_type: str
    demand: Demand  # one copy
    hourly_usd: float
    monthly_usd: float | None = None  # dedicated: the endpoint's expected cost


@dataclass(frozen=True)
class Candidate:
    model: str
    profile: traffic.Profile  # copies over the week
    counts: dict[str, int]  # copies min / initial / max
    batch: int  # rolling-update batch, in copies
    options: tuple[Option, ...]
    current: tuple[str, str, int] | None = None  # (kind, instance type, devices) as specified

    def moves(self, option: Option) -> bool:
        return (option.kind, option.instance_type, option.demand.devices) != self.current


@dataclass(frozen=True)
class Change:
    """One spec change: the field as written in YAML under `spec`, its old and new value
    (None: the field is removed)."""

    path: str
    old: object
    new: object


@dataclass(frozen=True)
class Placement:
    model: str
    kind: str  # "shared" | "dedicated"
    endpoint: str  # the pool, or the model's own endpoint
    instance_type: str
    accelerators: int
    memory_mib: int
    cpu_cores: float
    copies: dict[str, int]
    instances: dict[str, int] | None  # dedicated only
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Pool:
    name: str
    instance_type: str
    instances: dict[str, int]  # min / initial / max the spec should say
    models: tuple[str, ...]
    new: bool  # an endpoint the environment does not have yet
    hourly_usd: float
    monthly_usd: dict[str, float | None]
    changes: tuple[Change, ...]  # for an existing endpoint
    # A new pool of a type without local NVMe keeps the largest EBS volume its models had:
    # the weights (and Neuron's compile cache) must still fit on it.
    volume_size_gb: int | None = None


@dataclass(frozen=True)
class Optimized:
    environment: str
    pools: tuple[Pool, ...]
    placements: tuple[Placement, ...]  # every model that was optimized
    removed_endpoints: tuple[str, ...]  # endpoints left without models
    kept: tuple[str, ...]  # models left as they are, and why
    monthly_usd: dict[str, float | None]  # the optimized layout, per FIGURES
    lower_bound_usd: float  # expected: no layout over these choices costs less
    gap_percent: float | None  # expected cost over the bound
    proven: bool  # the integer program finished (its optimum is the bound)
    current_usd: dict[str, float | None]  # the same models as the specs place them
    current_unknown_prices: tuple[str, ...]  # why current_usd is unknown, where it is
    dedicated_usd: dict[str, float | None]  # the same models each on dedicated instances
    seconds: float
    notes: tuple[str, ...] = field(default=())

    @property
    def moved(self) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.changes)


# --- options ---------------------------------------------------------------------------------


def _priced_types(
    env: ResolvedEnvironment, allowed: Sequence[str] = ()
) -> list[tuple[InstanceType, float]]:
    """Priced instance types, those matching one of the ``allowed`` patterns where given
    (shell-style: `ml.g6*`, `ml.p4d.24xlarge`)."""
    overrides = env.doc.environment_spec.pricing
    out = []
    for inst in instances.all_types():
        if allowed and not any(fnmatch.fnmatchcase(inst.name, p) for p in allowed):
            continue
        price = prices.hourly(inst.name, overrides)
        if price is not None:
            out.append((inst, price.usd_per_hour))
    return out


def check_instance_types(env: ResolvedEnvironment, allowed: Sequence[str]) -> None:
    """Raise `LlmdeployError` for ``--instance-types`` patterns that leave nothing to search:
    one matching no instance type of the catalog (a typo), or all together matching no priced
    type in ``env``. `optimize` itself keeps every model then; a user asked for something else."""
    names = [inst.name for inst in instances.all_types()]
    for pattern in allowed:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            import difflib

            close = difflib.get_close_matches(pattern, names, n=1, cutoff=0.6)
            raise LlmdeployError(
                f"--instance-types '{pattern}' matches no SageMaker instance type the catalog "
                "knows; fix: "
                + (f"did you mean '{close[0]}'?" if close else "e.g. 'ml.g6*' or 'ml.g5.12xlarge'")
            )
    if allowed and not _priced_types(env, allowed):
        raise LlmdeployError(
            f"--instance-types {','.join(allowed)} matches no priced instance type in "
            f"environment '{env.name}': the optimizer proposes only types with a price; fix: "
            "set their hourly price in the environment's spec.pricing, or widen the patterns"
        )


def _copy_on(m: ResolvedModel, inst: InstanceType) -> Demand | None:
    """One copy of ``m`` on ``inst`` by the shape rule (module docstring), or None."""
    spec = m.model_spec
    if not hardware_runs(m, inst):
        return None
    devices = shape_devices(m, inst)
    if m.weights_mib is None:
        # Size unknown: the specified devices, where each is at least as large as now.
        current = m.devices_per_replica
        if current is None or m.instance is None:
            return None
        if usable_mib_per_device(inst) < usable_mib_per_device(m.instance):
            return None
        if inst.devices % current:
            return None
        devices = current
    if devices is None:
        return None
    res = spec.resources
    if res is not None:
        demand = Demand(devices, res.memory_mib, res.cpu_cores or 0.0)
    else:  # its devices' share of the instance (a dedicated model states no resources)
        demand = Demand(
            devices,
            inst.memory_mib * devices // inst.devices,
            round(inst.vcpus * devices / inst.devices, 2),
        )
    return demand if demand.fits(inst) else None


def _copies_profile(m: ResolvedModel, profile: traffic.Profile) -> tuple[traffic.Profile, dict]:
    """The model's profile in copies (a dedicated model's counts instances: each instance
    runs devices ÷ TP workers) and its copies.min / initial / max."""
    spec = m.model_spec
    if spec.dedicated is None:
        copies = spec.copies
        assert copies is not None
        return profile, {"min": copies.min, "initial": copies.initial, "max": copies.max}
    workers = max(1, (m.instance.devices if m.instance else 1) // (m.devices_per_replica or 1))
    segments = tuple((s, e, n * workers) for s, e, n in profile.segments)
    n = spec.dedicated.instances
    counts = {p: getattr(n, p) * workers for p in POINTS}
    return traffic.Profile(segments, profile.basis, profile.note), counts


def candidates(
    env: ResolvedEnvironment,
    weekly: Mapping[str, traffic.Profile],
    instance_types: Sequence[str] = (),
) -> tuple[list[Candidate], list[str]]:
    """The models the optimizer may move, each with its options; and those it keeps, with why."""
    types = _priced_types(env, instance_types)
    out: list[Candidate] = []
    kept: list[str] = []
    for m in env.models:
        if m.name not in weekly:
            if m.model_spec.adapter_of:
                kept.append(
                    f"{m.name}: a LoRA adapter, it follows {m.model_spec.adapter_of}'s copies"
                )
            else:
                kept.append(f"{m.name}: no copies or dedicated instances to plan")
            continue
        profile, counts = _copies_profile(m, weekly[m.name])
        options: list[Option] = []
        best_dedicated: Option | None = None
        for inst, hourly in types:
            demand = _copy_on(m, inst)
            if demand is None:
                continue
            options.append(Option("pool", inst.name, demand, hourly))
            per = capacity.per_instance(demand, inst)
            cost = dedicated_instance_hours(profile, per) * hourly
            if best_dedicated is None or cost < (best_dedicated.monthly_usd or 0):
                best_dedicated = Option("dedicated", inst.name, demand, hourly, cost)
        if not options:
            kept.append(f"{m.name}: no priced instance type holds one copy")
            continue
        assert best_dedicated is not None
        # A base of LoRA adapters stays on a shared endpoint: adapters need its components.
        dedicated = () if m.adapters else (best_dedicated,)
        current = None
        if m.instance is not None and m.devices_per_replica is not None:
            kind = "dedicated" if m.dedicated else "pool"
            current = (kind, m.instance.name, m.devices_per_replica)
        out.append(
            Candidate(
                m.name,
                profile,
                counts,
                m.rollout_batch_copies,
                (*options, *dedicated),
                current,
            )
        )
    return out, kept


# --- the integer program ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Solution:
    choice: dict[str, Option]  # model -> option
    bound: float  # no layout over these options costs less (expected, per month)
    proven: bool


def _shares(demand: Demand, inst: InstanceType) -> tuple[float, float, float]:
    return (
        demand.devices / inst.devices,
        demand.memory_mib / inst.memory_mib,
        demand.cpu_cores / inst.vcpus,
    )


def solve(
    cands: Sequence[Candidate],
    *,
    nodes: int = MILP_NODES,
    seconds: float = MILP_SECONDS,
    gap: float = MILP_GAP,
) -> _Solution:
    """The classes' choices by the integer program (module docstring), within ``nodes``
    branch-and-bound nodes (``seconds`` only as a safety net)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    states = traffic.states({c.model: c.profile for c in cands})
    # Classes: models with the same options and the same copies in every state.
    classes: dict[tuple, list[Candidate]] = {}
    by_state = [dict(s.copies) for s in states]
    for c in cands:
        key = (c.options, tuple(copies[c.model] for copies in by_state), c.current)
        classes.setdefault(key, []).append(c)
    keys = list(classes)
    pool_types = sorted({o.instance_type for k in keys for o in k[0] if o.kind == "pool"})
    type_index = {t: i for i, t in enumerate(pool_types)}
    hourly = {o.instance_type: o.hourly_usd for k in keys for o in k[0]}

    # Columns: x[class, option] for each class's options, then N[type, state].
    x_cols: list[tuple[int, Option]] = [(ci, o) for ci, k in enumerate(keys) for o in k[0]]
    n_base = len(x_cols)
    n_cols = n_base + len(pool_types) * len(states)

    def n_col(t: int, s: int) -> int:
        return n_base + t * len(states) + s

    cost = np.zeros(n_cols)
    upper = np.zeros(n_cols)
    for j, (ci, o) in enumerate(x_cols):
        upper[j] = len(classes[keys[ci]])
        if o.kind == "dedicated":
            cost[j] = o.monthly_usd or 0.0
        if classes[keys[ci]][0].moves(o):
            # At equal cost a move to a pool beats one to a dedicated endpoint: a pool can
            # take more models and scale to zero.
            cost[j] += MOVE_USD * (1.5 if o.kind == "dedicated" else 1)
    insts = {t: instances.get(t) for t in pool_types}
    for t, name in enumerate(pool_types):
        for s, state in enumerate(states):
            cost[n_col(t, s)] = hourly[name] * state.monthly_hours
            upper[n_col(t, s)] = np.inf

    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    of_class: dict[int, list[int]] = {}
    for j, (ci, _) in enumerate(x_cols):
        of_class.setdefault(ci, []).append(j)
    for ci, k in enumerate(keys):  # every model of a class placed once
        for j in of_class[ci]:
            rows.append(len(lo))
            cols.append(j)
            data.append(1.0)
        lo.append(len(classes[k]))
        hi.append(len(classes[k]))
    # Per pool type, state and dimension: the copies' demand within the instances.
    by_type: dict[int, list[tuple[int, int, Option]]] = {}
    for j, (ci, o) in enumerate(x_cols):
        if o.kind == "pool":
            by_type.setdefault(type_index[o.instance_type], []).append((j, ci, o))
    for t, entries in by_type.items():
        inst = insts[pool_types[t]]
        assert inst is not None
        for s in range(len(states)):
            for dim in range(3):
                row = len(lo)
                for j, ci, o in entries:
                    copies = keys[ci][1][s]
                    share = _shares(o.demand, inst)[dim]
                    if copies and share:
                        rows.append(row)
                        cols.append(j)
                        data.append(copies * share)
                rows.append(row)
                cols.append(n_col(t, s))
                data.append(-1.0)
                lo.append(-np.inf)
                hi.append(0.0)
    matrix = coo_array((data, (rows, cols)), shape=(len(lo), n_cols)).tocsr()
    result = milp(
        cost,
        constraints=LinearConstraint(matrix, lo, hi),
        integrality=np.ones(n_cols),
        bounds=Bounds(np.zeros(n_cols), upper),
        options={"node_limit": nodes, "time_limit": seconds, "mip_rel_gap": gap},
    )
    if result.x is None:  # no integer solution within the budget: everyone's cheapest pool
        choice = {
            c.model: min(c.options, key=lambda o: (o.kind != "pool", o.hourly_usd)) for c in cands
        }
        return _Solution(choice, 0.0, False)
    choice = {}
    for ci, k in enumerate(keys):
        members = list(classes[k])
        for j in of_class[ci]:
            for _ in range(min(round(result.x[j]), len(members))):
                choice[members.pop().model] = x_cols[j][1]
        for leftover in members:  # rounding never leaves one, but never lose a model
            choice[leftover.model] = k[0][0]
    bound = getattr(result, "mip_dual_bound", None)
    if bound is None or not math.isfinite(bound):
        bound = result.fun if result.status == 0 else 0.0
    # The moves' cents are not hosting cost: the bound holds without them.
    bound -= 1.5 * MOVE_USD * len(cands)
    return _Solution(choice, max(0.0, float(bound)), result.status == 0)


# --- the layout ------------------------------------------------------------------------------


def _pool_name(env: ResolvedEnvironment, instance_type: str, taken: set[str]) -> tuple[str, bool]:
    """An existing endpoint of this type (the first, kept by name), else a new name."""
    for ep in env.doc.environment_spec.endpoints:
        if ep.instance_type == instance_type and ep.name not in taken:
            return ep.name, False
    base = instance_type.removeprefix("ml.").replace(".", "-") + f"-{POOL_SUFFIX}"
    name, n = base, 2
    known = {ep.name for ep in env.doc.environment_spec.endpoints} | taken
    while name in known:
        name, n = f"{base}-{n}", n + 1
    return name, True


def optimize(
    env: ResolvedEnvironment,
    plan: EnvironmentPlan,
    *,
    instance_types: Sequence[str] = (),
    nodes: int = MILP_NODES,
) -> Optimized:
    """The cheapest layout of ``env``'s models (module docstring), over the priced instance
    types matching ``instance_types`` (all where empty)."""
    started = time.perf_counter()
    weekly = profiles(env)
    cands, kept = candidates(env, weekly, instance_types)
    by_name = {c.model: c for c in cands}
    resolved = {m.name: m for m in env.models}
    solution = solve(cands, nodes=nodes) if cands else _Solution({}, 0.0, True)

    pools: list[Pool] = []
    placements: list[Placement] = []
    taken: set[str] = set()
    grouped: dict[str, list[str]] = {}
    for model, option in solution.choice.items():
        if option.kind == "pool":
            grouped.setdefault(option.instance_type, []).append(model)
    total = {p: 0.0 for p in FIGURES}
    for instance_type in sorted(grouped):
        names = sorted(grouped[instance_type])
        inst = instances.get(instance_type)
        assert inst is not None
        name, new = _pool_name(env, instance_type, taken)
        taken.add(name)
        demands = {n: solution.choice[n].demand for n in names}
        need = {}
        for point in POINTS:
            copies = [demands[n] for n in names for _ in range(by_name[n].counts[point])]
            packing = pack(copies, inst, exact_nodes=0)
            assert packing is not None  # every demand fits one instance (candidates)
            need[point] = packing.instances
        # Room for a rolling update from min copies: the largest batch on instances of its
        # own (an upper bound; instances.max is a ceiling, it costs nothing).
        update = need["min"] + max(
            -(-by_name[n].batch // capacity.per_instance(demands[n], inst)) for n in names
        )
        expected = expected_shared(
            {n: by_name[n].profile for n in names},
            demands,
            inst,
            solution.choice[names[0]].hourly_usd,
        )
        counts = {
            "min": need["min"],
            "initial": max(need["initial"], 1),
            "max": max(need["max"], update, expected.peak_instances, 1),
        }
        hourly = solution.choice[names[0]].hourly_usd
        monthly = {
            "min": need["min"] * hourly * HOURS_PER_MONTH,
            "initial": need["initial"] * hourly * HOURS_PER_MONTH,
            "max": need["max"] * hourly * HOURS_PER_MONTH,
            "expected": expected.monthly_usd,
        }
        for p in FIGURES:
            total[p] += monthly[p] or 0.0
        changes: tuple[Change, ...] = ()
        if not new:
            ep = env.doc.spec.endpoint(name)
            assert ep is not None
            old = {
                "min": ep.instances.min,
                "initial": ep.instances.initial,
                "max": ep.instances.max,
            }
            if old != counts:
                changes = (Change("instances", old, counts),)
        volume = None
        if new and not inst.local_nvme:
            volumes = [
                resolved[n].endpoint.volume_size_gb
                for n in names
                if resolved[n].endpoint is not None and resolved[n].endpoint.volume_size_gb
            ]
            volume = max(volumes, default=None)
        pools.append(
            Pool(name, instance_type, counts, tuple(names), new, hourly, monthly, changes, volume)
        )
        for n in names:
            placements.append(_shared_placement(resolved[n], name, inst, demands[n]))
    for model, option in sorted(solution.choice.items()):
        if option.kind != "dedicated":
            continue
        c = by_name[model]
        inst = instances.get(option.instance_type)
        assert inst is not None
        per = capacity.per_instance(option.demand, inst)
        counts = {p: max(1, -(-c.counts[p] // per)) for p in POINTS}
        for p in POINTS:
            total[p] += counts[p] * option.hourly_usd * HOURS_PER_MONTH
        total["expected"] += option.monthly_usd or 0.0
        placements.append(_dedicated_placement(resolved[model], inst, option.demand, counts))

    used = {p.name for p in pools}
    removed = tuple(
        ep.name
        for ep in env.doc.environment_spec.endpoints
        if ep.name not in used and all(m.name in solution.choice for m in env.models_on(ep.name))
    )
    current, dedicated = _current_costs(env, plan, set(solution.choice))
    unknown = sorted({e.instance_type for e in plan.endpoints if e.hourly_usd is None and e.models})
    expected = total["expected"]
    gap = None if solution.bound <= 0 else 100 * (expected - solution.bound) / solution.bound
    notes = [f"{m}: {p.note}" for m, p in weekly.items() if p.note]
    return Optimized(
        environment=env.name,
        pools=tuple(pools),
        placements=tuple(placements),
        removed_endpoints=removed,
        kept=tuple(kept),
        monthly_usd=total,
        lower_bound_usd=solution.bound,
        gap_percent=gap,
        proven=solution.proven,
        current_usd=current,
        current_unknown_prices=tuple(unknown),
        dedicated_usd=dedicated,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def _current_costs(
    env: ResolvedEnvironment, plan: EnvironmentPlan, optimized: set[str]
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """What the same models cost as the specs place them (the endpoints they are on, whole),
    and each on dedicated instances (plan's baseline)."""
    current: dict[str, float | None] = {p: 0.0 for p in FIGURES}
    for e in plan.endpoints:
        names = {m.name for m in e.models}
        if not names or not names <= optimized:
            continue
        for p in FIGURES:
            value = e.monthly_usd.get(p)
            current[p] = None if value is None or current[p] is None else current[p] + value
    dedicated: dict[str, float | None] = {p: 0.0 for p in FIGURES}
    for b in plan.baselines:
        if b.model not in optimized:
            continue
        for p in FIGURES:
            value = b.monthly_usd.get(p)
            dedicated[p] = None if value is None or dedicated[p] is None else dedicated[p] + value
    return current, dedicated


def _shared_placement(m: ResolvedModel, pool: str, inst: InstanceType, demand: Demand) -> Placement:
    spec = m.model_spec
    changes: list[Change] = []
    if spec.dedicated is not None:
        changes.append(Change("dedicated", _dump(spec.dedicated), None))
        workers = max(1, (m.instance.devices if m.instance else 1) // (m.devices_per_replica or 1))
        n = spec.dedicated.instances
        copies = {p: getattr(n, p) * workers for p in POINTS}
        changes.append(Change("copies", None, copies))
    else:
        assert spec.copies is not None
        copies = {"min": spec.copies.min, "initial": spec.copies.initial, "max": spec.copies.max}
    if spec.endpoint != pool or spec.dedicated is not None:
        changes.append(Change("endpoint", spec.endpoint, pool))
    res = spec.resources
    new_res = {"accelerators": demand.devices, "memoryMiB": demand.memory_mib}
    if demand.cpu_cores:
        new_res["cpuCores"] = demand.cpu_cores
    old_res = _dump(res) if res is not None else None
    if old_res != new_res:
        changes.append(Change("resources", old_res, new_res))
    if spec.lmi.tensor_parallel_degree != demand.devices:
        changes.append(
            Change("lmi.tensorParallelDegree", spec.lmi.tensor_parallel_degree, demand.devices)
        )
    return Placement(
        m.name,
        "shared",
        pool,
        inst.name,
        demand.devices,
        demand.memory_mib,
        demand.cpu_cores,
        copies,
        None,
        tuple(changes),
    )


def _dedicated_placement(
    m: ResolvedModel, inst: InstanceType, demand: Demand, counts: dict[str, int]
) -> Placement:
    spec = m.model_spec
    changes: list[Change] = []
    new = {"instanceType": inst.name, "instances": counts}
    old = _dump(spec.dedicated) if spec.dedicated is not None else None
    if old != new:
        changes.append(Change("dedicated", old, new))
    if spec.endpoint is not None:
        changes.append(Change("endpoint", spec.endpoint, None))
    if spec.resources is not None:
        changes.append(Change("resources", _dump(spec.resources), None))
    if spec.copies is not None:
        changes.append(Change("copies", _dump(spec.copies), None))
    if spec.lmi.tensor_parallel_degree != demand.devices:
        changes.append(
            Change("lmi.tensorParallelDegree", spec.lmi.tensor_parallel_degree, demand.devices)
        )
    copies = {p: counts[p] * max(1, inst.devices // demand.devices) for p in POINTS}
    return Placement(
        m.name,
        "dedicated",
        m.name,
        inst.name,
        demand.devices,
        demand.memory_mib,
        demand.cpu_cores,
        copies,
        counts,
        tuple(changes),
    )


def _dump(model) -> dict:
    return model.model_dump(by_alias=True, exclude_defaults=True)
