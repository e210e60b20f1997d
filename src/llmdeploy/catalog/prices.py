"""On-demand hourly prices per instance type, each with where it came from.

Unknown is an answer: a type without a sourced figure has no price, and callers show it as
unknown rather than guessing. An environment's `spec.pricing` overrides the catalog.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str
    date: str | None

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH


HOURS_PER_MONTH = 730  # AWS's own convention in its pricing calculator


@functools.cache
def _catalog() -> dict[str, Price]:
    text = resources.files("llmdeploy.catalog").joinpath("data/prices.yaml").read_text()
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {
        name: Price(float(p["usdPerHour"]), p["source"], str(p.get("date")))
        for name, p in (data.get("prices") or {}).items()
    }


def hourly(instance_type: str, overrides: Mapping[str, float] | None = None) -> Price | None:
    if overrides and instance_type in overrides:
        return Price(float(overrides[instance_type]), "environment spec.pricing", None)
    return _catalog().get(instance_type)


def known() -> dict[str, Price]:
    return dict(_catalog())
