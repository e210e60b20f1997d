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


def solve(copies: list, instance: InstanceType, upper: int, *, seconds: float) -> Solution | None:
    """The fewest instances for ``copies`` (Demand objects), or None if no better packing
    than ``upper`` was found in time."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    shapes = Counter(copies)
    kinds = list(shapes)
    T, J = len(kinds), upper
    n = J + T * J  # y_0..y_{J-1}, then x[t, j] at J + t*J + j
    caps = (instance.devices, instance.memory_mib, instance.vcpus)
    rows = []
    lo: list[float] = []
    hi: list[float] = []
    for t, kind in enumerate(kinds):  # every copy is placed
        row = np.zeros(n)
        row[J + t * J : J + (t + 1) * J] = 1
        rows.append(row)
        lo.append(shapes[kind])
        hi.append(shapes[kind])
    for j in range(J):  # capacity in each dimension, on used instances only
        for k, cap in enumerate(caps):
            row = np.zeros(n)
            row[j] = -cap
            for t, kind in enumerate(kinds):
                row[J + t * J + j] = (kind.devices, kind.memory_mib, kind.cpu_cores)[k]
            rows.append(row)
            lo.append(-np.inf)
            hi.append(0.0)
    for j in range(J - 1):  # y_j >= y_{j+1}: no two equivalent orders of the same instances
        row = np.zeros(n)
        row[j], row[j + 1] = 1, -1
        rows.append(row)
        lo.append(0.0)
        hi.append(np.inf)
    upper_x = np.concatenate([np.ones(J), np.repeat([shapes[k] for k in kinds], J)])
    result = milp(
        np.concatenate([np.ones(J), np.zeros(T * J)]),
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=np.ones(n),
        bounds=Bounds(np.zeros(n), upper_x),
        options={"time_limit": seconds},
    )
    if result.x is None:
        return None
    return Solution(round(result.fun), result.status == 0)
