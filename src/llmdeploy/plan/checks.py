"""Rules with two front ends: the YAML path (`plan.rules`, each finding located in a spec
file) and the CDK constructs (`node.add_validation`, failing `cdk synth`). Each check here is
the one body of its rule: it judges plain facts (numbers, names, catalog entries), never a
spec or a construct, and names fields by a logical name (``$accelerators``) that each front end
spells its own way (`spec.resources.accelerators` in YAML, `accelerators` as a construct prop).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from llmdeploy.catalog.engines import ENGINES, Engine
from llmdeploy.catalog.instances import InstanceType

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/...: where an ECR image lives.
_ECR_REGION = re.compile(r"^[0-9]{12}\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-[0-9])\.")


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one field. ``field`` is a logical name; ``message`` and ``fix``
    may name fields as ``$name`` (`render` spells them)."""

    rule: str
    field: str
    message: str
    value: Any
    fix: str  # used when there are no `settings`
    severity: str = "error"
    # A fix that is a value to set: alternatives, each (field, value), rendered by the front
    # end as its own syntax ("tensorParallelDegree: 2" in YAML, "tensor_parallel_degree=2").
    settings: tuple[tuple[str, Any], ...] = ()

    def render(
        self, spelling: Mapping[str, str], assign: Callable[[str, Any], str]
    ) -> tuple[str, str]:
        """The message and the fix in one front end's words; ``assign(field, value)`` writes
        one setting in its syntax."""
        message = Template(self.message).safe_substitute(spelling)
        if self.settings:
            return message, "set " + ", or ".join(assign(f, v) for f, v in self.settings)
        return message, Template(self.fix).safe_substitute(spelling)


def copy_fits_instance(
    instance: InstanceType | None,
    accelerators: int | None,
    memory_mib: int | None,
    cpu_cores: float | None,
) -> Iterator[Finding]:
    """copy-fits-instance: one copy's accelerators, memory and CPU cores fit on one instance."""
    rule = "copy-fits-instance"
    if instance is None:
        return
    inst = instance
    if accelerators is not None and accelerators > inst.devices:
        yield Finding(
            rule,
            "accelerators",
            f"{inst.name} has {inst.devices} {inst.device_word}; one copy cannot span instances",
            accelerators,
            f"use at most {inst.devices}, or an endpoint with larger instances",
        )
    if memory_mib is not None and memory_mib > inst.memory_mib:
        yield Finding(
            rule,
            "memory_mib",
            f"{inst.name} has {inst.memory_mib} MiB of host memory",
            memory_mib,
            f"reserve at most {inst.memory_mib} MiB per copy",
        )
    if cpu_cores is not None and cpu_cores > inst.vcpus:
        yield Finding(
            rule,
            "cpu_cores",
            f"{inst.name} has {inst.vcpus} vCPUs",
            cpu_cores,
            f"reserve at most {inst.vcpus} cores per copy",
        )


def tp_matches_accelerators(
    tensor_parallel_degree: int | None, accelerators: int | None, instance: InstanceType | None
) -> Iterator[Finding]:
    """tp-matches-accelerators: each copy sees only its own devices, so a replica is sharded
    over exactly them (or, on a dedicated endpoint, over at most the instance's)."""
    rule, tp = "tp-matches-accelerators", tensor_parallel_degree
    if tp is None:
        return
    if accelerators is not None:
        if tp != accelerators:
            word = instance.device_word if instance else "devices"
            word = word[:-1] if accelerators == 1 else word  # 1 GPU, 2 GPUs
            yield Finding(
                rule,
                "tensor_parallel_degree",
                f"must equal $accelerators ({accelerators}): each copy sees only its own "
                f"{accelerators} {word}",
                tp,
                "",
                settings=(("tensor_parallel_degree", accelerators), ("accelerators", tp)),
            )
    elif instance is not None and tp > instance.devices:
        yield Finding(
            rule,
            "tensor_parallel_degree",
            f"{instance.name} has only {instance.devices} {instance.device_word}",
            tp,
            f"set $tensor_parallel_degree to at most {instance.devices}",
        )


def scale_to_zero_needs_autoscaling(
    copies_min: int, copies_initial: int, copies_max: int, autoscaling: bool
) -> Iterator[Finding]:
    """scale-to-zero-needs-autoscaling: without autoscaling the copy count never moves."""
    rule = "scale-to-zero-needs-autoscaling"
    if autoscaling:
        return
    if copies_min == 0:
        yield Finding(
            rule,
            "copies_min",
            "scale to zero needs autoscaling: without it the copies never go to 0 nor wake up",
            0,
            "$add_autoscaling",
        )
    elif copies_max > copies_initial:
        yield Finding(
            rule,
            "copies_max",
            "without autoscaling the model stays at copies.initial and never reaches max",
            copies_max,
            "$add_autoscaling, or set max equal to initial",
            severity="warning",
        )


def engine_matches_hardware(engine: Engine, instance: InstanceType | None) -> Iterator[Finding]:
    """engine-matches-hardware: djl-lmi runs on GPUs, djl-neuronx on Inferentia2/Trainium."""
    if instance is None or instance.kind == engine.accelerator:
        return
    other = next(e for e in ENGINES.values() if e.accelerator == instance.kind)
    yield Finding(
        "engine-matches-hardware",
        "engine",
        f"{engine.name} needs {engine.accelerator.upper()} instances; "
        f"{instance.name} has {instance.accelerator}",
        engine.name,
        f"use $engine_choice {other.name} on {instance.name}, or move the model to "
        f"{'a GPU' if engine.accelerator == 'gpu' else 'an inf2/trn1'} endpoint",
    )


def fp8_needs_hardware(quantization: str, instance: InstanceType | None) -> Iterator[Finding]:
    """quantization-supported (its hardware half): FP8 compute needs Ada or Hopper GPUs."""
    if quantization != "fp8" or instance is None or instance.supports_fp8:
        return
    yield Finding(
        "quantization-supported",
        "quantization",
        f"FP8 compute needs Ada or Hopper GPUs; {instance.name} has {instance.accelerator} "
        f"({instance.architecture})",
        quantization,
        "use awq or gptq (pre-quantized checkpoints), or a g6/g6e/p5/p5e/p5en endpoint",
    )


def image_in_region(image_uri: str | None, region: str | None) -> Iterator[Finding]:
    """image-in-region: SageMaker pulls an ECR image only from the model's own region
    (botocore sagemaker `ContainerDefinition.Image`: "must be in the same region as the model
    or endpoint you are creating"). Other registries and unknown regions are not judged."""
    if not image_uri or not region:
        return
    match = _ECR_REGION.match(image_uri)
    if match is None or match.group(1) == region:
        return
    yield Finding(
        "image-in-region",
        "image",
        f"the image is in ECR in {match.group(1)}, but SageMaker pulls images only from the "
        f"endpoint's own region, {region}",
        image_uri,
        f"use the image published in {region} (or copy it there)",
    )
