"""The exact packing: an integer program solved by HiGHS (scipy's `milp`).

Identical copies are grouped into shapes, so the program has one variable per shape and
instance rather than per copy: y_j (instance j is used) and x_tj (copies of shape t on
instance j), for j below an upper bound a heuristic already found. Minimise the instances
used; every copy placed; each instance's devices, memory and CPU within its capacity; used
instances first (symmetry). scipy is imported only when a packing needs it (~0.5 s).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from llmdeploy.catalog.instances import InstanceType


@dataclass(frozen=True)
class Solution:
    instances: int
    proven: bool  # HiGHS proved it optimal within the limits


def solve(
    copies: list, instance: InstanceType, upper: int, *, nodes: int, seconds: float
) -> Solution | None:
    """The fewest instances for ``copies`` (Demand objects), or None if no better packing
    than ``upper`` was found. ``nodes`` bounds the search deterministically (the same answer
    on a busy machine as on an idle one); ``seconds`` is only a safety net."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    shapes = Counter(copies)
    kinds = list(shapes)
    T, J = len(kinds), upper
    n = J + T * J  # y_0..y_{J-1}, then x[t, j] at J + t*J + j
    caps = (instance.devices, instance.memory_mib, instance.vcpus)
    # The constraint matrix, as (row, column, value) triples: each row touches one shape or
    # one instance, so a dense matrix would waste gigabytes on thousands of copies.
    data: list[float] = []
    rows: list[int] = []
    cols: list[int] = []
    lo: list[float] = []
    hi: list[float] = []

    def entry(col: int, value: float) -> None:
        rows.append(len(lo))
        cols.append(col)
        data.append(value)

    for t, kind in enumerate(kinds):  # every copy is placed
        for j in range(J):
            entry(J + t * J + j, 1)
        lo.append(shapes[kind])
        hi.append(shapes[kind])
    for j in range(J):  # capacity in each dimension, on used instances only
        for k, cap in enumerate(caps):
            entry(j, -cap)
            for t, kind in enumerate(kinds):
                size = (kind.devices, kind.memory_mib, kind.cpu_cores)[k]
                if size:
                    entry(J + t * J + j, size)
            lo.append(-np.inf)
            hi.append(0.0)
    for j in range(J - 1):  # y_j >= y_{j+1}: no two equivalent orders of the same instances
        entry(j, 1)
        entry(j + 1, -1)
        lo.append(0.0)
        hi.append(np.inf)
    matrix = coo_array((data, (rows, cols)), shape=(len(lo), n)).tocsr()
    upper_x = np.concatenate([np.ones(J), np.repeat([shapes[k] for k in kinds], J)])
    result = milp(
        np.concatenate([np.ones(J), np.zeros(T * J)]),
        constraints=LinearConstraint(matrix, lo, hi),
        integrality=np.ones(n),
        bounds=Bounds(np.zeros(n), upper_x),
        options={"node_limit": nodes, "time_limit": seconds},
    )
    if result.x is None:
        return None
    return Solution(round(result.fun), result.status == 0)
