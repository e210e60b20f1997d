"""How many instances a set of inference-component copies needs.

Copies are packed onto instances in three dimensions at once (accelerator devices, host memory,
CPU cores), first-fit decreasing: the largest copies first, each onto the first instance with
room left in every dimension. It is a heuristic (bin packing is NP-hard), never below the
true optimum; `lower_bound` gives the fractional bound the optimum cannot beat.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from llmdeploy.catalog.instances import InstanceType


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
            and self.cpu_cores <= instance.vcpus
        )


def pack(copies: Iterable[Demand], instance: InstanceType) -> int | None:
    """Instances needed to host every copy, or None if some copy fits no instance at all."""
    items = sorted(copies, key=lambda d: _size(d, instance), reverse=True)
    free: list[list[float]] = []  # per open instance: devices, memory, cpu left
    for d in items:
        if not d.fits(instance):
            return None
        for room in free:
            if d.devices <= room[0] and d.memory_mib <= room[1] and d.cpu_cores <= room[2] + 1e-9:
                room[0] -= d.devices
                room[1] -= d.memory_mib
                room[2] -= d.cpu_cores
                break
        else:
            free.append(
                [
                    instance.devices - d.devices,
                    instance.memory_mib - d.memory_mib,
                    instance.vcpus - d.cpu_cores,
                ]
            )
    return len(free)


def lower_bound(copies: Iterable[Demand], instance: InstanceType) -> int:
    """No packing can use fewer instances than the busiest dimension's total demands."""
    items = list(copies)
    if not items:
        return 0
    return max(
        math.ceil(sum(d.devices for d in items) / instance.devices),
        math.ceil(sum(d.memory_mib for d in items) / instance.memory_mib),
        math.ceil(sum(d.cpu_cores for d in items) / instance.vcpus - 1e-9),
    )


def _size(d: Demand, instance: InstanceType) -> float:
    # Order by the largest share of an instance the copy takes in any dimension.
    return max(
        d.devices / instance.devices,
        d.memory_mib / instance.memory_mib,
        d.cpu_cores / instance.vcpus,
    )
