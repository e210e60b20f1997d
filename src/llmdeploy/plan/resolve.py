"""A model as it will run in one environment: its hardware, engine, image and container env.

Resolution is best effort: where something is unknown (an endpoint that does not exist, an
instance type the catalog lacks) the field is None and `rules` says why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from llmdeploy.catalog import engines, instances
from llmdeploy.catalog.engines import Engine
from llmdeploy.catalog.instances import InstanceType
from llmdeploy.plan import capacity
from llmdeploy.plan.capacity import Copies, Demand
from llmdeploy.spec.loader import EnvironmentDoc
from llmdeploy.spec.models import Endpoint, Model, ModelSpec
from llmdeploy.spec.source import SourceMap

# vLLM keeps 10% of each device's memory for itself (gpu_memory_utilization defaults to 0.9):
# weights must fit in the rest, and what remains of it is the KV cache.
USABLE_MEMORY_FRACTION = 0.9

# LoRA adapters (docs/adapters.md): LMI's documented defaults for option.max_loras and
# option.max_lora_rank (djl-serving lmi-dist_user_guide.md, "Advanced LMI-Dist Configurations").
LORA_DEFAULT_MAX_LORAS = 4
LORA_DEFAULT_MAX_RANK = 16
LORA_ENV, MAX_LORAS_ENV, MAX_LORA_RANK_ENV = (
    "OPTION_ENABLE_LORA",
    "OPTION_MAX_LORAS",
    "OPTION_MAX_LORA_RANK",
)


@dataclass(frozen=True)
class LmiSettings:
    """DJL-LMI's serving settings, each one container environment variable: what a Model
    spec's `lmi` holds, and what the `InferenceComponent` and `DedicatedEndpoint` constructs
    take (`llmdeploy.constructs.LmiSettings`). One translation to the container's environment
    serves both (`container_environment`).

    :param rolling_batch: the batching backend (vllm, lmi-dist, trtllm, auto, disable).
    :param max_rolling_batch_size: requests decoded together per copy.
    :param job_queue_size: requests waiting per copy before LMI refuses more.
    :param tensor_parallel_degree: devices one replica is sharded over. Default: every device
        the copy sees.
    :param quantization: none, awq, gptq, fp8, bitsandbytes, ...
    :param max_model_len: the longest prompt plus answer, in tokens.
    :param dtype: fp16, bf16, fp32, auto.
    :param enable_lora: serve LoRA adapters (adapter inference components) on this model:
        OPTION_ENABLE_LORA, with OPTION_MAX_LORAS and OPTION_MAX_LORA_RANK (docs/adapters.md).
        Default: off; on when ``max_loras`` or ``max_lora_rank`` is given.
    :param max_loras: adapters served in one batch. Default: 4 (LMI's documented default)
        when LoRA is on.
    :param max_lora_rank: the largest rank among the adapters. Default: 16 (LMI's) when
        LoRA is on.
    :param extra_env: more container variables; they win over the typed ones.
    """

    rolling_batch: str | None = None
    max_rolling_batch_size: int | None = None
    job_queue_size: int | None = None
    tensor_parallel_degree: int | None = None
    quantization: str = "none"
    max_model_len: int | None = None
    dtype: str | None = None
    enable_lora: bool = False
    max_loras: int | None = None
    max_lora_rank: int | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_env", MappingProxyType(dict(self.extra_env)))

    @property
    def lora(self) -> bool:
        """Whether the container serves LoRA adapters."""
        return self.enable_lora or self.max_loras is not None or self.max_lora_rank is not None

    @staticmethod
    def of(spec: ModelSpec, *, adapters: int = 0) -> LmiSettings:
        """The spec's settings; ``adapters``: how many adapters name the model as their base
        in the environment (any turns LoRA on)."""
        lmi = spec.lmi
        return LmiSettings(
            rolling_batch=lmi.rolling_batch,
            max_rolling_batch_size=lmi.max_rolling_batch_size,
            job_queue_size=lmi.job_queue_size,
            tensor_parallel_degree=lmi.tensor_parallel_degree,
            quantization=lmi.quantization,
            max_model_len=lmi.max_model_len,
            dtype=lmi.dtype,
            enable_lora=adapters > 0,
            max_loras=lmi.max_loras,
            max_lora_rank=lmi.max_lora_rank,
            extra_env=dict(lmi.extra_env),
        )


def startup_timeout(spec: ModelSpec) -> int:
    """Seconds for the weights' download and for the first health check, each: the catalog's
    one rule (`engines.startup_timeout_seconds`), which LMI's loading timeout matches."""
    return engines.startup_timeout_seconds(
        spec.size_billions, engines.user_loading_timeout(spec.lmi.extra_env)
    )


def container_environment(
    lmi: LmiSettings,
    engine: Engine,
    devices: int,
    *,
    weights_in_s3: bool,
    hugging_face_id: str | None = None,
    startup_timeout_seconds: int = engines.LMI_MODEL_LOADING_TIMEOUT,
) -> dict[str, str]:
    """The container's environment for one copy of the model: typed settings, then extraEnv.

    ``devices`` is what one copy sees (the copy's accelerators, or the whole instance for a
    dedicated endpoint): tensor parallelism defaults to it, because each copy sees only its
    own devices and LMI's own default differs between images. Weights from S3 are loaded
    from /opt/ml/model; LMI waits for them as long as SageMaker does (the startup timeout),
    unless extraEnv sets its own OPTION_MODEL_LOADING_TIMEOUT.
    """
    env: dict[str, str] = {}
    if weights_in_s3:  # with a Hugging Face id too, that is where `stage` copied from
        env[engines.MODEL_ID_ENV] = engines.SAGEMAKER_MODEL_DIR  # where SageMaker puts them
    elif hugging_face_id:
        env["HF_MODEL_ID"] = hugging_face_id
    user = engines.user_loading_timeout(lmi.extra_env)
    env[engines.LOADING_TIMEOUT_ENV] = str(user if user is not None else startup_timeout_seconds)
    if engine.entrypoint:
        env["OPTION_ENTRYPOINT"] = engine.entrypoint
    if lmi.rolling_batch:
        env["OPTION_ROLLING_BATCH"] = lmi.rolling_batch
    if lmi.max_rolling_batch_size is not None:
        env["OPTION_MAX_ROLLING_BATCH_SIZE"] = str(lmi.max_rolling_batch_size)
    if lmi.job_queue_size is not None:
        env["SERVING_JOB_QUEUE_SIZE"] = str(lmi.job_queue_size)
    env["OPTION_TENSOR_PARALLEL_DEGREE"] = str(lmi.tensor_parallel_degree or devices)
    # TensorRT-LLM quantizes while it builds its engine: it needs every method named.
    applied = (
        ("awq", "fp8", "smoothquant")
        if lmi.rolling_batch == "trtllm"
        else engine.runtime_quantizations
    )
    if lmi.quantization in applied:
        env["OPTION_QUANTIZE"] = lmi.quantization
    if lmi.max_model_len is not None:
        env[engine.max_len_env] = str(lmi.max_model_len)
    if lmi.dtype:
        env["OPTION_DTYPE"] = lmi.dtype
    if lmi.lora:
        # Stated, not left to the image: the defaults are LMI's documented ones, fixed, so
        # that adding an adapter never changes the base's container (a rolling update).
        env[LORA_ENV] = "true"
        env[MAX_LORAS_ENV] = str(lmi.max_loras or LORA_DEFAULT_MAX_LORAS)
        env[MAX_LORA_RANK_ENV] = str(lmi.max_lora_rank or LORA_DEFAULT_MAX_RANK)
    env.update(lmi.extra_env)
    return env


def usable_mib_per_device(instance: InstanceType) -> float:
    return instance.memory_mib_per_device * USABLE_MEMORY_FRACTION


@dataclass(frozen=True)
class ResolvedModel:
    spec: Model  # with the environment's overrides merged in
    source: SourceMap
    endpoint: Endpoint | None  # the shared endpoint, None when dedicated or unknown
    instance: InstanceType | None
    engine: Engine
    version: str | None  # None when only an explicit image is given
    image: str | None
    environment: dict[str, str] = field(default_factory=dict)
    # LoRA (docs/adapters.md): an adapter's base, where the environment has it; a base's
    # adapters in the environment, by name.
    base: ResolvedModel | None = None
    adapters: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def adapter(self) -> bool:
        """A LoRA adapter (`spec.adapterOf`): it runs on its base's copies, with no
        endpoint, resources or copies of its own."""
        return self.model_spec.adapter_of is not None

    @property
    def runs_on(self) -> Endpoint | None:
        """The shared endpoint the model's copies (an adapter: its base's) run on."""
        if self.adapter:
            return self.base.endpoint if self.base is not None and not self.base.adapter else None
        return self.endpoint

    @property
    def model_spec(self) -> ModelSpec:
        """The Model's `spec:` section, with this environment's overrides merged in."""
        return self.spec.spec

    @property
    def dedicated(self) -> bool:
        return self.model_spec.dedicated is not None

    @property
    def devices_per_copy(self) -> int | None:
        """Accelerator devices one copy sees: its reservation, or the whole dedicated instance."""
        return _devices_per_copy(self.spec, self.instance)

    @property
    def devices_per_replica(self) -> int | None:
        """Devices one model replica is sharded over: the tensor parallel degree (LMI starts
        devices ÷ TP workers when a dedicated instance has more devices than that)."""
        return self.model_spec.lmi.tensor_parallel_degree or self.devices_per_copy

    @property
    def bytes_per_parameter(self) -> float:
        lmi = self.model_spec.lmi
        return engines.weight_bytes_per_parameter(lmi.quantization, lmi.dtype)

    @property
    def weights_mib(self) -> float | None:
        """The weights once loaded (sizeBillions × bytes per parameter), where size is known."""
        size = self.model_spec.size_billions
        return None if size is None else size * 1e9 * self.bytes_per_parameter / 2**20

    @property
    def demand(self) -> Demand | None:
        res = self.model_spec.resources
        if res is None:
            return None
        return Demand(res.accelerators, res.memory_mib, res.cpu_cores or 0.0)

    @property
    def rollout_batch_copies(self) -> int:
        """The most copies one batch of a rolling update brings up: `rollout.batchCopies` as
        the compiled share of copies.max makes it (`engines.rolling_batch_copies`)."""
        copies = self.model_spec.copies
        batch = self.model_spec.rollout.batch_copies
        return engines.rolling_batch_copies(batch, copies.max) if copies is not None else batch

    @property
    def startup_timeout_seconds(self) -> int:
        return startup_timeout(self.model_spec)


@dataclass(frozen=True)
class ResolvedEnvironment:
    """An environment's models, resolved; adapters linked to their bases (`link_adapters`)."""

    doc: EnvironmentDoc
    models: tuple[ResolvedModel, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", link_adapters(self.doc, self.models))

    @property
    def name(self) -> str:
        return self.doc.spec.name

    def model(self, name: str) -> ResolvedModel | None:
        return next((m for m in self.models if m.name == name), None)

    def adapters_on(self, endpoint: str) -> list[ResolvedModel]:
        """The LoRA adapters whose bases run on a shared endpoint (not in `models_on`: they
        take no capacity of their own)."""
        return [
            m
            for m in self.models
            if m.adapter and m.runs_on is not None and m.runs_on.name == endpoint
        ]

    def models_on(self, endpoint: str) -> list[ResolvedModel]:
        return [m for m in self.models if m.endpoint is not None and m.endpoint.name == endpoint]

    def fit(self, endpoint: str) -> capacity.EndpointFit | None:
        """How a shared endpoint's copies pack, at each point and during a rolling update
        (None: the endpoint or its instance type is unknown). Packed once per environment:
        `plan` shows these numbers and `validate`'s rules judge the same ones."""
        if endpoint not in self._fits:
            ep = self.doc.spec.endpoint(endpoint)
            inst = instances.get(ep.instance_type) if ep else None
            self._fits[endpoint] = (
                None if inst is None else capacity.fit(self.copies_on(endpoint), inst)
            )
        return self._fits[endpoint]

    @cached_property
    def _fits(self) -> dict[str, capacity.EndpointFit | None]:
        return {}

    def copies_on(self, endpoint: str) -> list[Copies]:
        """The copies of the models on a shared endpoint that state what a copy reserves."""
        return [
            Copies(
                m.name,
                m.demand,
                {p: getattr(m.model_spec.copies, p) for p in ("min", "initial", "max")},
                m.rollout_batch_copies,
            )
            for m in self.models_on(endpoint)
            if m.demand is not None and m.model_spec.copies is not None
        ]


def resolve_model(env: EnvironmentDoc, model: Model, source: SourceMap) -> ResolvedModel:
    spec = model.spec
    endpoint = env.spec.endpoint(spec.endpoint) if spec.endpoint and not spec.dedicated else None
    if spec.dedicated is not None:
        instance = instances.get(spec.dedicated.instance_type)
    else:
        instance = instances.get(endpoint.instance_type) if endpoint else None
    engine = engines.ENGINES[spec.container.engine]
    version = spec.container.version or (None if spec.container.image else engine.default_version)
    image = spec.container.image or (
        engine.image_uri(version, env.environment_spec.region) if version else None
    )
    devices = _devices_per_copy(model, instance) or 1
    environment = container_environment(
        LmiSettings.of(spec),
        engine,
        devices,
        weights_in_s3=bool(spec.source.s3_uri),
        hugging_face_id=spec.source.hugging_face_id,
        startup_timeout_seconds=startup_timeout(spec),
    )
    return ResolvedModel(model, source, endpoint, instance, engine, version, image, environment)


def link_adapters(
    env: EnvironmentDoc, models: tuple[ResolvedModel, ...]
) -> tuple[ResolvedModel, ...]:
    """Each adapter with its base, each base with its adapters and LMI's LoRA settings in
    its container environment. An adapter's own container gets no environment: it runs in
    its base's. An adapter whose base is missing stays unlinked (`adapter-base-exists`)."""
    if not any(m.adapter for m in models):
        return models
    adapters: dict[str, list[str]] = {}
    for m in models:
        if m.adapter:
            adapters.setdefault(m.model_spec.adapter_of, []).append(m.name)
    bases: dict[str, ResolvedModel] = {}
    out: list[ResolvedModel] = []
    for m in models:
        mine = tuple(adapters.get(m.name, ()))
        if mine and not m.adapter and m.adapters != mine:
            spec = m.model_spec
            lora = LmiSettings.of(spec, adapters=len(mine))
            environment = container_environment(
                lora,
                m.engine,
                m.devices_per_copy or 1,
                weights_in_s3=bool(spec.source.s3_uri),
                hugging_face_id=spec.source.hugging_face_id,
                startup_timeout_seconds=startup_timeout(spec),
            )
            m = dataclasses.replace(m, environment=environment, adapters=mine)
        bases[m.name] = m
        out.append(m)
    return tuple(
        dataclasses.replace(m, base=bases.get(m.model_spec.adapter_of), environment={})
        if m.adapter
        else m
        for m in out
    )


def _devices_per_copy(model: Model, instance: InstanceType | None) -> int | None:
    res = model.spec.resources
    if res is not None:
        return res.accelerators
    return instance.devices if instance else None
