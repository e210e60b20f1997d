"""Percentiles and summaries of measured figures."""

from __future__ import annotations

import math
from collections.abc import Sequence

PERCENTILES = (50, 90, 95, 99)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile with linear interpolation between closest ranks (numpy's
    default, so figures compare with other tools'); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], scale: float = 1.0) -> dict[str, float | int | None]:
    """count, mean, min, max and p50/p90/p95/p99 of ``values`` × ``scale`` (None if empty)."""
    scaled = [v * scale for v in values]
    out: dict[str, float | int | None] = {"count": len(scaled)}
    out["mean"] = sum(scaled) / len(scaled) if scaled else None
    out["min"] = min(scaled) if scaled else None
    out["max"] = max(scaled) if scaled else None
    for q in PERCENTILES:
        out[f"p{q}"] = percentile(scaled, q)
    return out
