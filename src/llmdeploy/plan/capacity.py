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
from collections.abc import Callable, Iterable, Sequence
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
    best = min(_first_fit(sorted(vectors, key=key, reverse=True)) for key in _ORDERS)
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


_ORDERS: Sequence[Callable[[tuple[float, float, float]], float]] = (
    max,  # largest share of any dimension first
    sum,  # largest total first
    lambda v: v[0],  # devices first
    lambda v: v[1],  # memory first
    lambda v: v[2],  # CPU first
)


def _fits(load: list[float], v: tuple[float, float, float]) -> bool:
    return all(load[k] + v[k] <= 1 + EPSILON for k in range(3))


def _first_fit(vectors: Sequence[tuple[float, float, float]]) -> int:
    loads: list[list[float]] = []
    for v in vectors:
        for load in loads:
            if _fits(load, v):
                for k in range(3):
                    load[k] += v[k]
                break
        else:
            loads.append(list(v))
    return len(loads)


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
