"""A model as it will run in one environment: its hardware, engine, image and container env.

Resolution is best effort: where something is unknown (an endpoint that does not exist, an
instance type the catalog lacks) the field is None and `rules` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from llmdeploy.catalog import engines, instances
from llmdeploy.catalog.engines import Engine
from llmdeploy.catalog.instances import InstanceType
from llmdeploy.plan import capacity
from llmdeploy.plan.capacity import Copies, Demand
from llmdeploy.spec.loader import EnvironmentDoc
from llmdeploy.spec.models import Endpoint, Model
from llmdeploy.spec.source import SourceMap

# vLLM keeps 10% of each device's memory for itself (gpu_memory_utilization defaults to 0.9):
# weights must fit in the rest, and what remains of it is the KV cache.
USABLE_MEMORY_FRACTION = 0.9


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

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dedicated(self) -> bool:
        return self.spec.spec.dedicated is not None

    @property
    def devices_per_copy(self) -> int | None:
        """Accelerator devices one copy sees: its reservation, or the whole dedicated instance."""
        return _devices_per_copy(self.spec, self.instance)

    @property
    def devices_per_replica(self) -> int | None:
        """Devices one model replica is sharded over: the tensor parallel degree (LMI starts
        devices ÷ TP workers when a dedicated instance has more devices than that)."""
        return self.spec.spec.lmi.tensor_parallel_degree or self.devices_per_copy

    @property
    def bytes_per_parameter(self) -> float:
        lmi = self.spec.spec.lmi
        return engines.weight_bytes_per_parameter(lmi.quantization, lmi.dtype)

    @property
    def weights_mib(self) -> float | None:
        """The weights once loaded (sizeBillions × bytes per parameter), where size is known."""
        size = self.spec.spec.size_billions
        return None if size is None else size * 1e9 * self.bytes_per_parameter / 2**20

    @property
    def demand(self) -> Demand | None:
        res = self.spec.spec.resources
        if res is None:
            return None
        return Demand(res.accelerators, res.memory_mib, res.cpu_cores or 0.0)

    @property
    def rollout_batch_copies(self) -> int:
        """The most copies one batch of a rolling update brings up: `rollout.batchCopies` as
        the compiled share of copies.max makes it (`engines.rolling_batch_copies`)."""
        copies = self.spec.spec.copies
        batch = self.spec.spec.rollout.batch_copies
        return engines.rolling_batch_copies(batch, copies.max) if copies is not None else batch

    @property
    def startup_timeout_seconds(self) -> int:
        return engines.startup_timeout_seconds(self.spec.spec)


@dataclass(frozen=True)
class ResolvedEnvironment:
    doc: EnvironmentDoc
    models: tuple[ResolvedModel, ...]

    @property
    def name(self) -> str:
        return self.doc.spec.name

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
                {p: getattr(m.spec.spec.copies, p) for p in ("min", "initial", "max")},
                m.rollout_batch_copies,
            )
            for m in self.models_on(endpoint)
            if m.demand is not None and m.spec.spec.copies is not None
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
        engine.image_uri(version, env.spec.spec.region) if version else None
    )
    devices = _devices_per_copy(model, instance) or 1
    environment = engines.container_environment(spec, engine, devices)
    return ResolvedModel(model, source, endpoint, instance, engine, version, image, environment)


def _devices_per_copy(model: Model, instance: InstanceType | None) -> int | None:
    res = model.spec.resources
    if res is not None:
        return res.accelerators
    return instance.devices if instance else None
