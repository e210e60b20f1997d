"""Value types of the constructs' props: small, frozen, in SageMaker's own words; every
time is a `Duration`, as in aws-cdk-lib."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_s3 as s3
from constructs import Construct

from llmdeploy.catalog import engines
from llmdeploy.catalog import instances as catalog
from llmdeploy.constructs import _cached
from llmdeploy.constructs._tokens import is_unresolved
from llmdeploy.plan import checks
from llmdeploy.plan import schedule as schedules
from llmdeploy.plan.resolve import LmiSettings

__all__ = [
    "Autoscaling",
    "ComponentRollout",
    "ContainerImage",
    "Counts",
    "EndpointRollout",
    "InstanceType",
    "LmiSettings",
    "ModelData",
    "RollbackAlarms",
    "RolloutStrategy",
    "RoutingStrategy",
    "ScalingMetric",
    "ScheduledScaling",
]


class InstanceType:
    """A SageMaker hosting instance type: a constant (`InstanceType.G6_12XLARGE`, one per type
    in llmdeploy's catalog) or any other by name (`InstanceType.of("ml.g6e.xlarge")`). A plain
    string is accepted wherever a construct takes one."""

    G5_XLARGE: ClassVar[InstanceType]
    G5_2XLARGE: ClassVar[InstanceType]
    G5_4XLARGE: ClassVar[InstanceType]
    G5_8XLARGE: ClassVar[InstanceType]
    G5_16XLARGE: ClassVar[InstanceType]
    G5_12XLARGE: ClassVar[InstanceType]
    G5_24XLARGE: ClassVar[InstanceType]
    G5_48XLARGE: ClassVar[InstanceType]
    G6_XLARGE: ClassVar[InstanceType]
    G6_2XLARGE: ClassVar[InstanceType]
    G6_4XLARGE: ClassVar[InstanceType]
    G6_8XLARGE: ClassVar[InstanceType]
    G6_16XLARGE: ClassVar[InstanceType]
    G6_12XLARGE: ClassVar[InstanceType]
    G6_24XLARGE: ClassVar[InstanceType]
    G6_48XLARGE: ClassVar[InstanceType]
    G6E_XLARGE: ClassVar[InstanceType]
    G6E_2XLARGE: ClassVar[InstanceType]
    G6E_4XLARGE: ClassVar[InstanceType]
    G6E_8XLARGE: ClassVar[InstanceType]
    G6E_16XLARGE: ClassVar[InstanceType]
    G6E_12XLARGE: ClassVar[InstanceType]
    G6E_24XLARGE: ClassVar[InstanceType]
    G6E_48XLARGE: ClassVar[InstanceType]
    P4D_24XLARGE: ClassVar[InstanceType]
    P4DE_24XLARGE: ClassVar[InstanceType]
    P5_48XLARGE: ClassVar[InstanceType]
    P5E_48XLARGE: ClassVar[InstanceType]
    P5EN_48XLARGE: ClassVar[InstanceType]
    INF2_XLARGE: ClassVar[InstanceType]
    INF2_8XLARGE: ClassVar[InstanceType]
    INF2_24XLARGE: ClassVar[InstanceType]
    INF2_48XLARGE: ClassVar[InstanceType]
    TRN1_2XLARGE: ClassVar[InstanceType]
    TRN1_32XLARGE: ClassVar[InstanceType]
    TRN1N_32XLARGE: ClassVar[InstanceType]

    def __init__(self, name: str):
        if not isinstance(name, str) or not re.fullmatch(r"ml\.[a-z0-9-]+\.[a-z0-9]+", name):
            raise ValueError(
                f"instance type {name!r}: give a SageMaker hosting type, e.g. ml.g6e.12xlarge"
            )
        self.name = name

    @classmethod
    def of(cls, name: InstanceType | str) -> InstanceType:
        """``name`` as an InstanceType (an InstanceType is returned as it is)."""
        return name if isinstance(name, InstanceType) else cls(name)

    @property
    def catalog(self) -> catalog.InstanceType | None:
        """What llmdeploy's catalog knows of the type (devices, memory), or None."""
        return catalog.get(self.name)

    @property
    def has_local_nvme(self) -> bool:
        """SageMaker refuses KmsKeyId and VolumeSizeInGB for instance types with local NVMe
        storage (encrypted by the instance's hardware). Unknown types are assumed to have it,
        which is the choice that never breaks a deployment."""
        info = self.catalog
        return True if info is None else info.local_nvme

    def __repr__(self) -> str:
        return f"InstanceType({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstanceType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


InstanceType.G5_XLARGE = InstanceType("ml.g5.xlarge")
InstanceType.G5_2XLARGE = InstanceType("ml.g5.2xlarge")
InstanceType.G5_4XLARGE = InstanceType("ml.g5.4xlarge")
InstanceType.G5_8XLARGE = InstanceType("ml.g5.8xlarge")
InstanceType.G5_16XLARGE = InstanceType("ml.g5.16xlarge")
InstanceType.G5_12XLARGE = InstanceType("ml.g5.12xlarge")
InstanceType.G5_24XLARGE = InstanceType("ml.g5.24xlarge")
InstanceType.G5_48XLARGE = InstanceType("ml.g5.48xlarge")
InstanceType.G6_XLARGE = InstanceType("ml.g6.xlarge")
InstanceType.G6_2XLARGE = InstanceType("ml.g6.2xlarge")
InstanceType.G6_4XLARGE = InstanceType("ml.g6.4xlarge")
InstanceType.G6_8XLARGE = InstanceType("ml.g6.8xlarge")
InstanceType.G6_16XLARGE = InstanceType("ml.g6.16xlarge")
InstanceType.G6_12XLARGE = InstanceType("ml.g6.12xlarge")
InstanceType.G6_24XLARGE = InstanceType("ml.g6.24xlarge")
InstanceType.G6_48XLARGE = InstanceType("ml.g6.48xlarge")
InstanceType.G6E_XLARGE = InstanceType("ml.g6e.xlarge")
InstanceType.G6E_2XLARGE = InstanceType("ml.g6e.2xlarge")
InstanceType.G6E_4XLARGE = InstanceType("ml.g6e.4xlarge")
InstanceType.G6E_8XLARGE = InstanceType("ml.g6e.8xlarge")
InstanceType.G6E_16XLARGE = InstanceType("ml.g6e.16xlarge")
InstanceType.G6E_12XLARGE = InstanceType("ml.g6e.12xlarge")
InstanceType.G6E_24XLARGE = InstanceType("ml.g6e.24xlarge")
InstanceType.G6E_48XLARGE = InstanceType("ml.g6e.48xlarge")
InstanceType.P4D_24XLARGE = InstanceType("ml.p4d.24xlarge")
InstanceType.P4DE_24XLARGE = InstanceType("ml.p4de.24xlarge")
InstanceType.P5_48XLARGE = InstanceType("ml.p5.48xlarge")
InstanceType.P5E_48XLARGE = InstanceType("ml.p5e.48xlarge")
InstanceType.P5EN_48XLARGE = InstanceType("ml.p5en.48xlarge")
InstanceType.INF2_XLARGE = InstanceType("ml.inf2.xlarge")
InstanceType.INF2_8XLARGE = InstanceType("ml.inf2.8xlarge")
InstanceType.INF2_24XLARGE = InstanceType("ml.inf2.24xlarge")
InstanceType.INF2_48XLARGE = InstanceType("ml.inf2.48xlarge")
InstanceType.TRN1_2XLARGE = InstanceType("ml.trn1.2xlarge")
InstanceType.TRN1_32XLARGE = InstanceType("ml.trn1.32xlarge")
InstanceType.TRN1N_32XLARGE = InstanceType("ml.trn1n.32xlarge")


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


def _seconds(value: Duration, what: str) -> int:
    if not isinstance(value, Duration):
        raise TypeError(f"{what}: give a Duration (e.g. Duration.minutes(10)), not {value!r}")
    return int(_cached.to_seconds(value))


@dataclass(frozen=True)
class EndpointRollout:
    """Blue/green rollout of endpoint (instance) changes. Default: all at once, then 10
    minutes of watching the alarms before the old fleet goes (a canary or a linear step
    needs a fleet that never shrinks to one instance: docs/rollouts.md)."""

    strategy: RolloutStrategy = RolloutStrategy.ALL_AT_ONCE
    traffic_percent: int = 10
    wait: Duration = field(default_factory=lambda: Duration.minutes(10))

    def __post_init__(self) -> None:
        _seconds(self.wait, "EndpointRollout.wait")

    @property
    def wait_seconds(self) -> int:
        return _seconds(self.wait, "EndpointRollout.wait")


@dataclass(frozen=True)
class ComponentRollout:
    """Rolling update of an inference component's copies: ``batch_copies`` new copies at a
    time (compiled as SageMaker's 5-50% of the copies, docs/rollouts.md), ``wait`` between
    batches while the rollback alarms watch."""

    batch_copies: int = 1
    wait: Duration = field(default_factory=lambda: Duration.minutes(2))

    def __post_init__(self) -> None:
        _seconds(self.wait, "ComponentRollout.wait")

    @property
    def wait_seconds(self) -> int:
        return _seconds(self.wait, "ComponentRollout.wait")


@dataclass(frozen=True)
class ScheduledScaling:
    """A scheduled action of Application Auto Scaling: from each time ``cron`` fires in
    ``timezone``, autoscaling keeps the copies (a dedicated endpoint's instances) between
    ``min`` and ``max`` until the next action fires. ``cron`` is Application Auto Scaling's six
    fields (``"0 8 ? * MON-FRI *"``, with or without ``cron(...)``), checked here; the
    timezone is an IANA name and follows daylight saving. ``name``: the action's name, unique
    per model. Default: ``schedule-<position from 1>`` (docs/scheduling.md)."""

    cron: str
    min: int
    max: int
    timezone: str = "UTC"
    name: str | None = None

    def __post_init__(self) -> None:
        try:
            schedules.parse(self.cron)
        except schedules.CronError as exc:
            raise ValueError(f"ScheduledScaling.cron {self.cron!r}: {exc}") from None
        if not isinstance(self.min, int) or not isinstance(self.max, int) or self.min < 0:
            raise ValueError(f"ScheduledScaling min={self.min!r}, max={self.max!r}: give counts")
        if self.min > self.max:
            raise ValueError(
                f"ScheduledScaling min={self.min} is above max={self.max}: Application Auto "
                f"Scaling refuses it; set min <= max"
            )
        if self.timezone not in _timezones():
            raise ValueError(
                f"ScheduledScaling.timezone {self.timezone!r}: give an IANA time zone, e.g. "
                "UTC or Europe/Berlin"
            )
        if self.name is not None and not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9_.-]{0,255}", self.name
        ):
            raise ValueError(
                f"ScheduledScaling.name {self.name!r}: letters, digits, '-', '_' and '.', "
                "at most 256 characters"
            )

    @property
    def expression(self) -> str:
        """The Schedule Application Auto Scaling gets: ``cron(<six fields>)``."""
        return schedules.parse(self.cron).expression


def _timezones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


@dataclass(frozen=True)
class Autoscaling:
    """Target tracking on copies (instances, for a dedicated endpoint); with ``Counts.min ==
    0``, or a ``schedule`` action with min 0, also wake from zero. ``schedule``: scheduled
    actions that move the range over the week (warm in office hours, zero at night). Default:
    none (the range is the ``Counts``' all the time)."""

    target: float
    metric: ScalingMetric = ScalingMetric.CONCURRENT_REQUESTS_PER_COPY
    scale_in_cooldown: Duration = field(default_factory=lambda: Duration.minutes(5))
    scale_out_cooldown: Duration = field(default_factory=lambda: Duration.minutes(1))
    schedule: tuple[ScheduledScaling, ...] = ()

    def __post_init__(self) -> None:
        if not self.target > 0:
            raise ValueError(f"Autoscaling.target {self.target}: give a positive target")
        _seconds(self.scale_in_cooldown, "Autoscaling.scale_in_cooldown")
        _seconds(self.scale_out_cooldown, "Autoscaling.scale_out_cooldown")
        if not all(isinstance(a, ScheduledScaling) for a in self.schedule):
            raise TypeError(
                "Autoscaling.schedule: give ScheduledScaling(cron=..., min=..., max=...)"
            )
        object.__setattr__(self, "schedule", tuple(self.schedule))

    @property
    def action_names(self) -> list[str]:
        """Each scheduled action's name: its own, else ``schedule-<position from 1>``."""
        return schedules.action_names([a.name for a in self.schedule])


def add_schedule(target: appscaling.ScalableTarget, scaling: Autoscaling) -> None:
    """``scaling.schedule`` as the scheduled actions of ``target`` (its ScheduledActions)."""
    for name, action in zip(scaling.action_names, scaling.schedule, strict=True):
        target.scale_on_schedule(
            name,
            schedule=appscaling.Schedule.expression(action.expression),
            min_capacity=action.min,
            max_capacity=action.max,
            time_zone=TimeZone.of(action.timezone),
        )


def schedule_checks(scaling: Autoscaling, *, upper: int, lower: int) -> Iterator[checks.Finding]:
    """`plan.schedule.check_actions` on a construct's schedule: the rules `validate` runs."""
    unit = "copies" if lower == 0 else "instances"
    names = [a.name for a in scaling.schedule]
    return schedules.check_actions(scaling.schedule, names, upper=upper, lower=lower, unit=unit)


def schedule_spelling(spelling: Mapping[str, str], scaling: Autoscaling | None) -> dict[str, str]:
    """``spelling`` plus the props of each scheduled action (autoscaling.schedule[0].max)."""
    out = dict(spelling)
    for i in range(len(scaling.schedule) if scaling else 0):
        for key in ("cron", "min", "max", "name"):
            out[f"schedule.{i}.{key}"] = f"autoscaling.schedule[{i}].{key}"
    out["schedule"] = "autoscaling.schedule"
    return out


@dataclass(frozen=True)
class RollbackAlarms:
    """Alarms that roll a deployment back: the 5XX error rate (%) and p95 model latency."""

    error_rate_percent: float | None = None
    p95_latency: Duration | None = None

    def __post_init__(self) -> None:
        if self.error_rate_percent is not None and not 0 < self.error_rate_percent <= 100:
            raise ValueError(
                f"RollbackAlarms.error_rate_percent {self.error_rate_percent}: give 0 < % <= 100"
            )
        if self.p95_latency is not None and not isinstance(self.p95_latency, Duration):
            raise TypeError(
                f"RollbackAlarms.p95_latency: give a Duration (e.g. Duration.millis(800)), not "
                f"{self.p95_latency!r}"
            )

    @property
    def p95_latency_ms(self) -> int | None:
        if self.p95_latency is None:
            return None
        return int(_cached.to_milliseconds(self.p95_latency))


@dataclass(frozen=True)
class ModelData:
    """Where the weights are: an S3 prefix (uncompressed, SageMaker copies it to
    /opt/ml/model), a single .tar.gz in S3, or nothing (the container downloads them)."""

    s3_uri: str | None = None
    bucket_construct: s3.IBucket | None = None  # from_bucket: grants through the bucket

    @classmethod
    def from_s3_uri(cls, uri: str) -> ModelData:
        """``s3://bucket/prefix/`` (a folder: end it with /) or ``s3://bucket/model.tar.gz``."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"model data {uri!r} must be an s3:// URI")
        return cls(uri)

    from_s3 = from_s3_uri  # the earlier name

    @classmethod
    def from_bucket(cls, bucket: s3.IBucket, key_prefix: str) -> ModelData:
        """The folder (``key_prefix`` ending in /) or .tar.gz object ``key_prefix`` in
        ``bucket``, which may be created in this app."""
        if (
            not isinstance(key_prefix, str)
            or is_unresolved(key_prefix)
            or not (key_prefix.endswith("/") or key_prefix.endswith(".tar.gz"))
            or key_prefix.startswith("/")
            or any(c in key_prefix for c in "*?$")
        ):
            raise ValueError(
                f"key_prefix {key_prefix!r}: give the weights' folder ending in / (e.g. "
                "'llama-3-8b/1/') or a .tar.gz key, without wildcards: the model's role may "
                "read exactly that"
            )
        return cls(f"s3://{bucket.bucket_name}/{key_prefix}", bucket)

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


@dataclass(frozen=True)
class BoundImage:
    uri: str
    engine: engines.Engine | None  # known for DJL images from the catalog


class ContainerImage:
    """The serving container: a DJL image from llmdeploy's catalog for the stack's region
    (`djl_lmi`, `djl_neuronx`), or any image by URI (`from_uri`)."""

    def __init__(self, *, uri: str | None = None, engine: str | None = None, version=None):
        self._uri, self._engine, self._version = uri, engine, version

    @classmethod
    def from_uri(cls, uri: str) -> ContainerImage:
        if not isinstance(uri, str) or not uri:
            raise ValueError(f"image {uri!r}: give an image URI")
        return cls(uri=uri)

    @classmethod
    def djl_lmi(cls, version: str | None = None) -> ContainerImage:
        """DJL-LMI (vLLM and friends, NVIDIA GPUs). Default: llmdeploy's pinned version."""
        return cls._djl("djl-lmi", version)

    @classmethod
    def djl_neuronx(cls, version: str | None = None) -> ContainerImage:
        """DJL for AWS Neuron (Inferentia2, Trainium). Default: llmdeploy's pinned version."""
        return cls._djl("djl-neuronx", version)

    @classmethod
    def _djl(cls, engine: str, version: str | None) -> ContainerImage:
        spec = engines.ENGINES[engine]
        version = version or spec.default_version
        if version not in spec.versions:
            shown = ", ".join(spec.versions[:5])  # newest first
            raise ValueError(f"{engine} has no version {version!r} (recent: {shown})")
        return cls(engine=engine, version=version)

    @property
    def engine(self) -> engines.Engine | None:
        return engines.ENGINES[self._engine] if self._engine else None

    def bind(self, scope: Construct) -> BoundImage:
        """The image for ``scope``'s stack: a catalog image needs the stack's region."""
        if self._uri is not None:
            return BoundImage(self._uri, None)
        region = Stack.of(scope).region
        engine = engines.ENGINES[self._engine]
        if is_unresolved(region):
            raise ValueError(
                f"ContainerImage.{self._engine.replace('-', '_')}: the stack has no region; "
                "give the stack env=Environment(account=..., region=...), or use "
                "ContainerImage.from_uri"
            )
        uri = engine.image_uri(self._version, region)
        if uri is None:
            raise ValueError(f"no {self._engine} {self._version} image is published in {region}")
        return BoundImage(uri, engine)
