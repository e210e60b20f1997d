"""Value types of the constructs' props: small, frozen, in SageMaker's own words."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from llmdeploy.catalog import instances as catalog


class InstanceType:
    """A SageMaker hosting instance type (an open set: `InstanceType.of("ml.g6e.xlarge")`)."""

    def __init__(self, name: str):
        if not name.startswith("ml."):
            raise ValueError(f"instance type {name!r} must start with 'ml.' (e.g. ml.g6e.12xlarge)")
        self.name = name

    @classmethod
    def of(cls, name: str) -> InstanceType:
        return cls(name)

    @property
    def has_local_nvme(self) -> bool:
        """SageMaker refuses KmsKeyId and VolumeSizeInGB for instance types with local NVMe
        storage (encrypted by the instance's hardware). Unknown types are assumed to have it,
        which is the choice that never breaks a deployment."""
        info = catalog.get(self.name)
        return True if info is None else info.local_nvme

    def __repr__(self) -> str:
        return f"InstanceType({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstanceType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


for _name in catalog.names():
    setattr(
        InstanceType, _name[3:].replace(".", "_").replace("-", "_").upper(), InstanceType(_name)
    )


class RoutingStrategy(enum.Enum):
    LEAST_OUTSTANDING_REQUESTS = "LEAST_OUTSTANDING_REQUESTS"
    RANDOM = "RANDOM"


class RolloutStrategy(enum.Enum):
    CANARY = "CANARY"
    LINEAR = "LINEAR"
    ALL_AT_ONCE = "ALL_AT_ONCE"


class ScalingMetric(enum.Enum):
    """Predefined Application Auto Scaling metrics for inference components."""

    CONCURRENT_REQUESTS_PER_COPY = (
        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
    )
    INVOCATIONS_PER_COPY = "SageMakerInferenceComponentInvocationsPerCopy"


@dataclass(frozen=True)
class Counts:
    """At least ``min``, created with ``initial``, at most ``max`` (instances or copies)."""

    min: int
    initial: int
    max: int

    def __post_init__(self) -> None:
        if not (0 <= self.min <= self.initial <= self.max) or self.initial < 1:
            raise ValueError(
                f"counts must satisfy 0 <= min <= initial <= max and initial >= 1, got {self}"
            )


@dataclass(frozen=True)
class EndpointRollout:
    """Blue/green rollout of endpoint (instance) changes. Default: all at once, then 10
    minutes of watching the alarms before the old fleet goes (a canary or a linear step
    needs a fleet that never shrinks to one instance: docs/rollouts.md)."""

    strategy: RolloutStrategy = RolloutStrategy.ALL_AT_ONCE
    traffic_percent: int = 10
    wait_seconds: int = 600


@dataclass(frozen=True)
class Autoscaling:
    """Target tracking on copies; with ``Counts.min == 0`` also wake from zero."""

    target: float
    metric: ScalingMetric = ScalingMetric.CONCURRENT_REQUESTS_PER_COPY
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60


@dataclass(frozen=True)
class RollbackAlarms:
    """Alarms that roll a rolling update back: error rate (%) and p95 model latency (ms)."""

    error_rate_percent: float | None = None
    p95_latency_ms: int | None = None


@dataclass(frozen=True)
class ModelData:
    """Where the weights are: an S3 prefix (uncompressed, SageMaker copies it to
    /opt/ml/model), a single .tar.gz in S3, or nothing (the container downloads them)."""

    s3_uri: str | None = None

    @classmethod
    def from_s3(cls, uri: str) -> ModelData:
        if not uri.startswith("s3://"):
            raise ValueError(f"model data {uri!r} must be an s3:// URI")
        return cls(uri)

    @property
    def compressed(self) -> bool:
        return bool(self.s3_uri and self.s3_uri.endswith(".tar.gz"))

    @property
    def bucket(self) -> str | None:
        return self.s3_uri[5:].split("/", 1)[0] if self.s3_uri else None

    @property
    def key_prefix(self) -> str:
        if not self.s3_uri:
            return ""
        parts = self.s3_uri[5:].split("/", 1)
        return parts[1] if len(parts) == 2 else ""
