"""Accelerator memory of one copy: the weights, plus the KV cache its batch × context needs.

vLLM (LMI's default backend) takes `gpu_memory_utilization` (0.9) of each device, loads the
weights, and gives the rest to the KV cache. Per token the cache holds K and V of every layer:
2 × layers × kvHeads × headDim values (djl-serving's instance-type-selection guide gives the
same formula with hidden_size, which over-counts grouped-query attention models). A copy is
sized for `maxRollingBatchSize` sequences of `maxModelLen` tokens at once; fewer fit, and
LMI either refuses to load (one sequence does not fit) or cannot keep the batch it was given.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmdeploy.catalog.instances import InstanceType
from llmdeploy.spec.models import Architecture, ModelSpec

# The KV cache holds what the model computes in: 2 bytes for fp16/bf16 (and for quantized
# weights, whose activations are fp16), 4 for fp32, 1 where the cache itself is FP8.
KV_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "auto": 2, None: 2}
KV_CACHE_DTYPE_ENV = "OPTION_KV_CACHE_DTYPE"


def kv_bytes_per_value(dtype: str | None, extra_env: Mapping[str, str]) -> int:
    cache = extra_env.get(KV_CACHE_DTYPE_ENV, "").strip().lower()
    if cache.startswith("fp8"):
        return 1
    return KV_BYTES.get(dtype, 2)


def kv_bytes_per_token(arch: Architecture, dtype: str | None, extra_env: Mapping[str, str]) -> int:
    return 2 * arch.layers * arch.kv_heads * arch.head_dim * kv_bytes_per_value(dtype, extra_env)


def sequences(spec: ModelSpec) -> int:
    """Sequences one copy holds at once: maxRollingBatchSize, or 1 when unset (the least
    that must fit: LMI's own default batch is larger)."""
    return spec.lmi.max_rolling_batch_size or 1


def kv_cache_mib(spec: ModelSpec) -> float | None:
    """The KV cache one copy needs for its batch at maxModelLen, where both are known."""
    arch, length = spec.architecture, spec.lmi.max_model_len
    if arch is None or length is None:
        return None
    per_token = kv_bytes_per_token(arch, spec.lmi.dtype, spec.lmi.extra_env)
    return sequences(spec) * length * per_token / 2**20


def usable_mib(instance: InstanceType, devices: int) -> float:
    from llmdeploy.plan.resolve import usable_mib_per_device

    return devices * usable_mib_per_device(instance)


def fewest_devices(
    weights_mib: float | None,
    kv_mib: float | None,
    instance: InstanceType,
    *,
    kv_heads: int | None = None,
) -> int | None:
    """The fewest devices (1, 2, 4, ...: tensor parallel degrees) of ``instance`` that hold the
    weights and the KV cache, with TP dividing the KV heads where they are known; None if even
    the whole instance cannot. Unknown weights give None (the caller keeps what is specified);
    an unknown cache (no `architecture` or maxModelLen) counts the weights alone, as
    `validate`'s weights-fit does: one rule for validate, plan's dedicated hosting and the
    optimizer."""
    if weights_mib is None:
        return None
    devices = 1
    while devices <= instance.devices:
        room = usable_mib(instance, devices)
        need = weights_mib + (kv_mib or 0.0)
        divides = kv_heads is None or kv_heads % devices == 0
        if need <= room and divides and instance.devices % devices == 0:
            return devices
        devices *= 2
    return None
