"""How many instances a set of inference-component copies needs.

Copies are packed onto instances in three dimensions at once (accelerator devices, host
memory, CPU cores): a vector bin-packing problem, NP-hard in general. `pack` first packs
first-fit decreasing under a few orderings and keeps the best. Most real portfolios stop
there: the count equals the fractional lower bound, so it is optimal. Otherwise a small
problem goes to a branch-and-bound search, a large one (or one the search could not finish)
to an integer program (`exact`), each within a budget so that planning a thousand models stays
fast. The result says whether the count is proven optimal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from llmdeploy.catalog.instances import InstanceType

EPSILON = 1e-9
SEARCH_NODES = 20_000  # per packing (~1 s at worst here); past it the best found is kept
SEARCH_MAX_COPIES = 40  # beyond this the search rarely finishes; the integer program does
EXACT_NODES = 300  # branch-and-bound nodes of the integer program per packing (deterministic)
EXACT_SECONDS = 20.0  # a safety net only; the node limit is what normally stops it


@dataclass(frozen=True)
class Demand:
    """What one copy reserves."""

    devices: int
    memory_mib: int
    cpu_cores: float = 0.0

    def fits(self, instance: InstanceType) -> bool:
        return (
            self.devices <= instance.devices
            and self.memory_mib <= instance.memory_mib
            and self.cpu_cores <= instance.vcpus + EPSILON
        )


@dataclass(frozen=True)
class Packing:
    instances: int  # instances the copies need (0 for no copies)
    lower_bound: int  # no packing can use fewer
    optimal: bool  # `instances` is proven minimal


def _vector(d: Demand, instance: InstanceType) -> tuple[float, float, float]:
    # Each dimension as a share of one instance, so that one capacity (1, 1, 1) fits all.
    return (
        d.devices / instance.devices,
        d.memory_mib / instance.memory_mib,
        d.cpu_cores / instance.vcpus,
    )


def lower_bound(copies: Iterable[Demand], instance: InstanceType) -> int:
    """The busiest dimension's total demand, rounded up: no packing can use fewer."""
    vectors = [_vector(d, instance) for d in copies]
    if not vectors:
        return 0
    return max(math.ceil(sum(v[k] for v in vectors) - EPSILON) for k in range(3))


def pack(
    copies: Iterable[Demand],
    instance: InstanceType,
    *,
    search_nodes: int = SEARCH_NODES,
    exact_nodes: int = EXACT_NODES,
    exact_seconds: float = EXACT_SECONDS,
) -> Packing | None:
    """The fewest instances that host every copy, or None if a copy fits no instance.

    ``exact_nodes=0`` skips the integer program (heuristic and search only)."""
    items = list(copies)
    if any(not d.fits(instance) for d in items):
        return None
    vectors = [_vector(d, instance) for d in items]
    bound = lower_bound(items, instance)
    best = _best_first_fit(vectors, bound)
    if best == bound:
        return Packing(best, bound, True)
    if len(items) <= SEARCH_MAX_COPIES:
        best, complete = _branch_and_bound(vectors, best, bound, search_nodes)
        if complete or best == bound:
            return Packing(best, bound, True)
    if exact_nodes > 0:
        from llmdeploy.plan import exact

        solution = exact.solve(items, instance, best, nodes=exact_nodes, seconds=exact_seconds)
        if solution is not None and solution.instances <= best:
            proven = solution.proven or solution.instances == bound
            return Packing(solution.instances, bound, proven)
    return Packing(best, bound, False)


@dataclass(frozen=True)
class Copies:
    """One model's copies on a shared endpoint: what one copy reserves, how many there are at
    each point (min, initial, max), and how many a rolling update of it brings up at once."""

    model: str
    demand: Demand
    counts: Mapping[str, int]
    batch: int


@dataclass(frozen=True)
class PointFit:
    copies: int
    packing: Packing | None  # None: a copy fits no instance


@dataclass(frozen=True)
class UpdateFit:
    """Every model at copies.min plus the rolling-update batch that needs the most room: a
    rolling update brings a batch of new copies up before the old ones go."""

    model: str | None  # whose batch it is (None: no model on the endpoint)
    batch: int
    copies: int
    packing: Packing | None


@dataclass(frozen=True)
class EndpointFit:
    points: dict[str, PointFit]
    update: UpdateFit


def fit(
    models: Sequence[Copies], instance: InstanceType, *, exact_nodes: int = EXACT_NODES
) -> EndpointFit:
    """What a shared endpoint's copies need at each point, and during a rolling update.

    `plan` reports these numbers and `validate`'s rules judge them: one computation for both.
    ``exact_nodes=0`` leaves the integer program out (the optimizer sizes many pools)."""
    points = {}
    for point in ("min", "initial", "max"):
        copies = [m.demand for m in models for _ in range(m.counts[point])]
        points[point] = PointFit(len(copies), pack(copies, instance, exact_nodes=exact_nodes))
    return EndpointFit(points, _fit_update(models, instance, points["min"].packing))


def _fit_update(
    models: Sequence[Copies], instance: InstanceType, base_packing: Packing | None
) -> UpdateFit:
    """The minimum copies plus the batch of whichever model needs the most instances.

    One model's batch at a time (SageMaker updates one inference component per update), each
    bounded cheaply: at least the minimum copies' own count and the batch's lower bound, at
    most what first-fit finds or the minimum copies' count plus instances of their own for the
    batch. Only the worst model is searched further where its bounds differ; the result says
    whether its count is proven."""
    base = [m.demand for m in models for _ in range(m.counts["min"])]
    if not models or base_packing is None:
        return UpdateFit(None, 0, len(base), base_packing)
    base_low = base_packing.instances if base_packing.optimal else base_packing.lower_bound
    # Models with the same copy and batch need the same room: bound each kind once.
    kinds: dict[tuple[Demand, int], str] = {}
    for m in models:
        kinds.setdefault((m.demand, max(1, m.batch)), m.model)
    # [upper, lower, size, batch, model, copies]; at equal bounds the larger batch (its
    # busiest dimension as a share of an instance) is the one shown.
    bounds: list[list] = []
    for (demand, batch), model in kinds.items():
        copies = base + [demand] * batch
        vectors = [_vector(d, instance) for d in copies]
        first_fit = _best_first_fit(vectors, lower_bound(copies, instance))
        on_its_own = -(-batch // per_instance(demand, instance))
        upper = min(first_fit, base_packing.instances + on_its_own)
        lower = max(lower_bound(copies, instance), base_low)
        size = batch * max(_vector(demand, instance))
        bounds.append([upper, lower, size, batch, model, copies])
    worst = max(bounds, key=lambda b: (b[0], b[1], b[2]))
    if worst[0] > worst[1] and len(worst[5]) <= SEARCH_MAX_COPIES:
        # A small endpoint: the branch-and-bound search settles it in well under a second.
        # (A large one keeps its bounds: the integer program per model would cost as much as
        # planning the endpoint again, for one instance at most.)
        searched = pack(worst[5], instance, exact_nodes=0)
        assert searched is not None  # the copies fit one by one (base_packing exists)
        worst[0] = min(worst[0], searched.instances)
        worst[1] = max(worst[1], searched.instances if searched.optimal else worst[1])
    upper, _, _, batch, model, copies = max(bounds, key=lambda b: (b[0], b[1], b[2]))
    lower = max(b[1] for b in bounds)
    return UpdateFit(model, batch, len(copies), Packing(upper, lower, upper <= lower))


def per_instance(d: Demand, instance: InstanceType) -> int:
    """How many copies of ``d`` one instance holds (``d`` fits it)."""
    return min(
        instance.devices // d.devices,
        instance.memory_mib // d.memory_mib,
        int((instance.vcpus + EPSILON) // d.cpu_cores) if d.cpu_cores > 0 else 10**9,
    )


_ORDERS: Sequence[Callable[[tuple[float, float, float]], float]] = (
    max,  # largest share of any dimension first
    sum,  # largest total first
    lambda v: v[0],  # devices first
    lambda v: v[1],  # memory first
    lambda v: v[2],  # CPU first
)


def _fits(load: list[float], v: tuple[float, float, float]) -> bool:
    return all(load[k] + v[k] <= 1 + EPSILON for k in range(3))


def _best_first_fit(vectors: Sequence[tuple[float, float, float]], bound: int) -> int:
    """The fewest instances first-fit decreasing finds under the orderings; it stops at the
    first that meets ``bound`` (none can do better)."""
    best = None
    for key in _ORDERS:
        found = _first_fit(sorted(vectors, key=key, reverse=True))
        best = found if best is None else min(best, found)
        if best <= bound:
            break
    return best or 0


def _first_fit(vectors: Sequence[tuple[float, float, float]]) -> int:
    if len(vectors) > FIRST_FIT_NUMPY:
        return _first_fit_numpy(vectors)
    loads: list[list[float]] = []
    start = 0  # identical copies in a row: the instances an earlier one skipped stay too full
    previous = None
    for v in vectors:
        if v != previous:
            start, previous = 0, v
        for b in range(start, len(loads)):
            load = loads[b]
            if _fits(load, v):
                for k in range(3):
                    load[k] += v[k]
                start = b
                break
        else:
            loads.append(list(v))
            start = len(loads) - 1
    return len(loads)


FIRST_FIT_NUMPY = 60  # copies beyond which first-fit tests all open instances at once


def _first_fit_numpy(vectors: Sequence[tuple[float, float, float]]) -> int:
    """The same first-fit, each copy tested against every open instance in one array step."""
    import numpy as np

    loads = np.zeros((len(vectors), 3))
    used = 0
    start = 0
    previous = None
    for v in vectors:
        if v != previous:
            start, previous = 0, v
        room = np.all(loads[start:used] + v <= 1 + EPSILON, axis=1)
        hit = int(room.argmax()) if room.size and room.any() else -1
        b = start + hit if hit >= 0 else used
        if hit < 0:
            used += 1
        loads[b] += v
        start = b
    return used


def _branch_and_bound(
    vectors: list[tuple[float, float, float]], best: int, bound: int, budget: int
) -> tuple[int, bool]:
    """Place copies largest first into open instances or a new one, pruning branches that
    cannot beat the best count. Returns (best count, whether the search finished)."""
    items = sorted(vectors, key=lambda v: (max(v), sum(v)), reverse=True)
    n = len(items)
    # Remaining demand per dimension after position i, for the bound at each node.
    rest = [[0.0, 0.0, 0.0] for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        rest[i] = [rest[i + 1][k] + items[i][k] for k in range(3)]
    loads: list[list[float]] = []
    placed_in = [0] * n  # instance index of each item, to break symmetry of identical copies
    nodes = 0
    state = {"best": best}

    def visit(i: int) -> bool:  # False = budget exhausted
        nonlocal nodes
        nodes += 1
        if nodes > budget:
            return False
        if i == n:
            state["best"] = len(loads)
            return True
        # Free room in open instances cannot absorb more than it has: the rest spills over.
        for k in range(3):
            spill = rest[i][k] - sum(1 - load[k] for load in loads)
            if len(loads) + max(0, math.ceil(spill - EPSILON)) >= state["best"]:
                return True
        v = items[i]
        start = placed_in[i - 1] if i and items[i] == items[i - 1] else 0
        seen: set[tuple[float, ...]] = set()
        for b in range(start, len(loads)):
            load = loads[b]
            key = tuple(round(x, 9) for x in load)
            if key in seen or not _fits(load, v):
                continue  # an instance loaded like one already tried gives the same subtree
            seen.add(key)
            for k in range(3):
                load[k] += v[k]
            placed_in[i] = b
            ok = visit(i + 1)
            for k in range(3):
                load[k] -= v[k]
            if not ok:
                return False
            if state["best"] == bound:
                return True
        if len(loads) + 1 < state["best"]:
            loads.append(list(v))
            placed_in[i] = len(loads) - 1
            ok = visit(i + 1)
            loads.pop()
            if not ok:
                return False
        return True

    finished = visit(0)
    return state["best"], finished
