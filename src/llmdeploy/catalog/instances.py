"""SageMaker instance types: accelerators, devices, memory, vCPUs, local storage."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import yaml

AcceleratorKind = Literal["gpu", "neuron"]

# Architectures that compute in FP8 (W8A8): Ada (L4, L40S) and Hopper (H100, H200). Ampere
# (A10G, A100) runs FP8 checkpoints only as weight-only FP8-Marlin in vLLM, which we do not
# treat as FP8 support. Source: vLLM docs, "Supported Hardware" for quantization.
FP8_ARCHITECTURES = frozenset({"ada", "hopper"})


@dataclass(frozen=True)
class InstanceType:
    name: str  # ml.p4d.24xlarge
    family: str  # p4d
    accelerator: str  # NVIDIA A100 40GB
    kind: AcceleratorKind
    architecture: str  # ampere | ada | hopper | inferentia2 | trainium
    chips: int  # GPUs, or Neuron chips
    devices: int  # what inference components reserve: GPUs, or NeuronCores (see data file)
    memory_mib_per_device: int
    vcpus: int
    memory_mib: int  # host memory
    local_nvme: bool  # then SageMaker refuses KmsKeyId and VolumeSizeInGB

    @property
    def accelerator_memory_mib(self) -> int:
        return self.devices * self.memory_mib_per_device

    @property
    def device_word(self) -> str:
        return "NeuronCores" if self.kind == "neuron" else "GPUs"

    @property
    def supports_fp8(self) -> bool:
        return self.architecture in FP8_ARCHITECTURES


@functools.cache
def _load() -> dict[str, InstanceType]:
    text = resources.files("llmdeploy.catalog").joinpath("data/instances.yaml").read_text()
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    unit = data["neuron_device_unit"]
    out: dict[str, InstanceType] = {}
    for name, size in data["sizes"].items():
        family = name.split(".")[1]
        fam = data["families"][family]
        acc = fam["accelerator"]
        # The one place the chip-vs-NeuronCore assumption is applied (see instances.yaml).
        per_chip = acc.get("coresPerChip", 1) if unit == "neuroncore" else 1
        out[name] = InstanceType(
            name=name,
            family=family,
            accelerator=acc["name"],
            kind=acc["kind"],
            architecture=acc["architecture"],
            chips=size["chips"],
            devices=size["chips"] * per_chip,
            memory_mib_per_device=acc["memoryMiBPerChip"] // per_chip,
            vcpus=size["vcpus"],
            memory_mib=size["memoryGiB"] * 1024,
            local_nvme=fam["localNvme"],
        )
    return out


def get(name: str) -> InstanceType | None:
    return _load().get(name)


def names() -> list[str]:
    return list(_load())


def all_types() -> list[InstanceType]:
    return list(_load().values())
