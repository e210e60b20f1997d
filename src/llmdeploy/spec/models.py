"""The YAML contract v1 as typed, frozen objects (DESIGN.md, "Spec contract v1").

Field names are snake_case in Python and camelCase in YAML (the aliases). Every model is
strict (no silent type coercion: `"8"` is not 8), forbids unknown keys and is frozen; lists are
tuples and maps are read-only, so a parsed spec cannot change after it was checked.

Rules that need more than one field, the catalog or the whole environment live in
`llmdeploy.plan.rules`; what is here is what one value alone can tell.
"""

from __future__ import annotations

import functools
import unicodedata
import zoneinfo
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

API_VERSION = "llmdeploy/v1"

V = TypeVar("V")


def _freeze(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


# A read-only mapping in Python, a plain object in JSON Schema and dumps.
FrozenMap = Annotated[Mapping[str, V], AfterValidator(_freeze), PlainSerializer(dict)]

# Digits in patterns are [0-9], never \d: pydantic's regex engine reads \d as any Unicode
# digit, so a full-width "１１１１２２２２３３３３" account would pass and break synth.

# SageMaker resource names: `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`, 63 characters at most. Ours are
# lower-case because they also name stacks, tags and files, and one hyphen at a time (a
# subset of what an AWS tag value may hold, see _tag_value).
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](-?[a-z0-9])*$", max_length=63)]
S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")]
InstanceTypeName = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9\-]+\.[a-z0-9]+$")]


class StrictModel(BaseModel):
    """What every YAML document llmdeploy reads is held to: strict types, no unknown keys,
    frozen, camelCase names in YAML and in errors, finite numbers. Specs, and the probe files
    of `llmdeploy probe`."""

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        # Errors name fields as the user wrote them (camelCase), not as Python spells them.
        loc_by_alias=True,
        # Every number is finite: an infinite price or NaN target has no meaning (and is not
        # JSON). YAML's .inf/.nan are refused earlier, where they are read (spec.source).
        allow_inf_nan=False,
    )


# AWS tag values: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, at most 256 characters (tag keys: 128;
# ours are fixed, `llmdeploy:*`). Spec values that become tags (synth.stacks: the environment,
# endpoint and model names, the version, the owner) must fit, or the deploy fails late: names
# are `Name`s (a subset), the version a number, the owner is checked by `_tag_value`.
_TAG_VALUE_SYMBOLS = frozenset("_.:/=+-@")
TAG_VALUE_CHARACTERS = "letters, digits, spaces and _ . : / = + - @"


def _tag_value(value: str) -> str:
    for position, char in enumerate(value, 1):
        if char not in _TAG_VALUE_SYMBOLS and unicodedata.category(char)[0] not in "LZN":
            shown = repr(char)[1:-1] if not char.isprintable() else char
            name = unicodedata.name(char, "a control character").lower()
            raise PydanticCustomError(
                "aws_tag_value",
                "is not a valid AWS tag value: '{char}' ({name}, U+{code}) at character {position}",
                {
                    "char": shown,
                    "name": name,
                    "code": f"{ord(char):04X}",
                    "position": position,
                    "fix": f"use only {TAG_VALUE_CHARACTERS} (it becomes an AWS tag)",
                },
            )
    return value


class Metadata(StrictModel):
    name: Name = Field(description="Lower-case letters, digits and single hyphens.")


class ModelMetadata(Metadata):
    version: int = Field(ge=1, description="Bumped on every change; recorded in history.")
    # A tag value may be 256 characters; an owner is a team's name.
    owner: Annotated[
        str, StringConstraints(min_length=1, max_length=128), AfterValidator(_tag_value)
    ] = Field(
        description="Team that owns the model; becomes the llmdeploy:owner tag "
        f"({TAG_VALUE_CHARACTERS})."
    )


class Counts(StrictModel):
    """How many of something: at least ``min``, created with ``initial``, at most ``max``."""

    min: int = Field(ge=0, le=1000)
    initial: int = Field(ge=1, le=1000)
    max: int = Field(ge=1, le=1000)


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _timezone(value: str) -> str:
    if value not in _timezones():
        import difflib

        close = difflib.get_close_matches(value, sorted(_timezones()), n=1)
        raise PydanticCustomError(
            "timezone",
            "is not an IANA time zone",
            {"fix": f"did you mean '{close[0]}'?" if close else "e.g. UTC, Europe/Berlin"},
        )
    return value


# An IANA time zone name (Application Auto Scaling's `Timezone`, and traffic profiles).
Timezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_timezone)]


class HoursPerDay(StrictModel):
    """How many hours a day a model runs at each point of its copies. The three add up to 24.
    `plan` lays them on the clock from 08:00 in the profile's time zone: the hours at max
    first, then at initial, then at min (every model's busy hours together, the costly case)."""

    min: float = Field(default=0, ge=0, le=24, description="Hours a day at copies.min.")
    initial: float = Field(default=0, ge=0, le=24, description="Hours a day at copies.initial.")
    max: float = Field(default=0, ge=0, le=24, description="Hours a day at copies.max.")


class EnvironmentTraffic(StrictModel):
    """The traffic profile of every model that has none of its own."""

    hours_per_day: HoursPerDay
    timezone: Timezone = Field(default="UTC", description="Where 08:00 is. Default: UTC.")


def _one_a_hour(value: tuple[int, ...]) -> tuple[int, ...]:
    # Checked after the items: pydantic's own length check counts only the items that
    # validated, so one bad hour of 24 would also read "too short".
    if len(value) != 24:
        kind, bound = ("too_short", "min_length") if len(value) < 24 else ("too_long", "max_length")
        raise PydanticCustomError(kind, "24 numbers, one an hour", {bound: 24})
    return value


class Traffic(StrictModel):
    """How busy the model is over a day, so `plan` reports an expected monthly cost: hours a
    day at each point (`hoursPerDay`), or the copies in each hour of the day (`copiesByHour`,
    24 numbers from 00:00 in `timezone`). Exactly one of the two."""

    hours_per_day: HoursPerDay | None = None
    copies_by_hour: (
        Annotated[tuple[Annotated[int, Field(ge=0, le=1000)], ...], AfterValidator(_one_a_hour)]
        | None
    ) = Field(
        default=None,
        description="Copies in each hour, 00-23.",
        json_schema_extra={"minItems": 24, "maxItems": 24},
    )
    timezone: Timezone = Field(default="UTC", description="The clock of the profile.")


# --- Environment -----------------------------------------------------------------------------


class Vpc(StrictModel):
    subnet_ids: tuple[Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-z]+$")], ...] = (
        Field(min_length=1, max_length=16)
    )
    security_group_ids: tuple[Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-z]+$")], ...] = (
        Field(min_length=1, max_length=5)
    )


class Security(StrictModel):
    kms_key_arn: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^arn:aws[a-z\-]*:kms:[a-z0-9\-]+:[0-9]{12}:(key|alias)/.+$"
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="One key's full ARN, in the environment's region and account. "
        "Default: a customer-managed key per endpoint.",
    )
    allow_foreign_kms_key: bool = Field(
        default=False,
        description="Allow a kmsKeyArn of another account (its owner decides who else uses it).",
    )
    image_registries: tuple[
        Annotated[
            str,
            StringConstraints(
                pattern=r"^[0-9]{12}\.dkr\.ecr\.[a-z]{2}(-[a-z]+)+-[0-9]\.amazonaws\.com(\.cn)?$"
            ),
        ],
        ...,
    ] = Field(
        default=(),
        max_length=20,
        description="ECR registries (<account>.dkr.ecr.<region>.amazonaws.com) that "
        "container.image may name, besides AWS's Deep Learning Containers.",
    )
    vpc: Vpc | None = None
    network_isolation: bool = Field(
        default=True, description="No outbound network from containers."
    )


class History(StrictModel):
    s3_uri: S3Uri | None = Field(
        default=None, description="Default: the local folder .llmdeploy/history."
    )


class EndpointRollout(StrictModel):
    """Blue/green rollout of endpoint-level (instance) changes."""

    # All at once by default, as SageMaker does without an update policy: a canary or a linear
    # step needs a fleet that never shrinks to one instance (instances.min ≥ 2), and pools that
    # scale to zero do (docs/rollouts.md).
    strategy: Literal["canary", "linear", "all-at-once"] = Field(
        default="all-at-once",
        description="canary and linear need instances.min of 2 or more. Default: all-at-once.",
    )
    # SageMaker: a canary is at most 50% of the fleet, a linear step between 10% and 50%.
    traffic_percent: int = Field(default=10, ge=1, le=50)
    wait_seconds: int = Field(default=600, ge=0, le=3600)


class Endpoint(StrictModel):
    name: Name
    instance_type: InstanceTypeName
    instances: Counts
    routing: Literal["least-outstanding-requests", "random"] = "least-outstanding-requests"
    rollout: EndpointRollout = EndpointRollout()
    volume_size_gb: int | None = Field(
        default=None,
        ge=1,
        le=512,
        alias="volumeSizeGB",
        description="EBS volume per instance; only for instance types without local NVMe.",
    )


class EnvironmentSpec(StrictModel):
    account: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
    region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]
    stack_prefix: Name | None = Field(default=None, description="Default: llmdeploy-<env>.")
    security: Security = Security()
    history: History = History()
    pricing: Annotated[
        Mapping[InstanceTypeName, Annotated[float, Field(gt=0)]],
        AfterValidator(_freeze),
        PlainSerializer(dict),
    ] = Field(
        default_factory=dict,
        description="Hourly USD price per instance type, overriding the catalog.",
    )
    endpoints: tuple[Endpoint, ...] = ()
    traffic: EnvironmentTraffic | None = Field(
        default=None,
        description="Default traffic profile of the models. Without one, a model with no "
        "profile or schedule is expected at copies.initial all day.",
    )


class Environment(StrictModel):
    api_version: Literal["llmdeploy/v1"]
    kind: Literal["Environment"]
    metadata: Metadata
    spec: EnvironmentSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def stack_prefix(self) -> str:
        return self.spec.stack_prefix or f"llmdeploy-{self.metadata.name}"

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.spec.endpoints if e.name == name), None)


# --- Model -----------------------------------------------------------------------------------


class Dedicated(StrictModel):
    """A single-model endpoint of its own instead of a seat on a shared one."""

    instance_type: InstanceTypeName
    instances: Counts


class Source(StrictModel):
    """Where the weights come from: `s3Uri` (loaded from S3, works under network isolation),
    `huggingFaceId` (the container downloads them), or both: then the endpoint loads `s3Uri`
    and `llmdeploy stage` copies the Hub's weights there."""

    s3_uri: S3Uri | None = None
    hugging_face_id: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9_.\-]+$", max_length=200
            ),
        ]
        | None
    ) = Field(default=None, alias="huggingFaceId")


class Container(StrictModel):
    engine: Literal["djl-lmi", "djl-neuronx"]
    version: Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")] | None = Field(
        default=None, description="Default: the newest version in the catalog for the engine."
    )
    image: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9\-]+\.amazonaws\.com(\.cn)?/.+:.+$"
            ),
        ]
        | None
    ) = Field(default=None, description="Explicit ECR image; overrides engine+version lookup.")


RollingBatch = Literal["auto", "vllm", "lmi-dist", "trtllm", "disable"]
Quantization = Literal["none", "awq", "gptq", "fp8", "bitsandbytes", "smoothquant", "static_int8"]
DType = Literal["auto", "fp16", "bf16", "fp32"]
# SageMaker's EnvironmentKey: [a-zA-Z_][a-zA-Z0-9_]*, at most 1024 characters (botocore).
EnvName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")]
# A NUL or other control character (tab and line breaks aside) cannot reach a process's
# environment intact; it is a paste error, never a setting.
EnvValue = Annotated[
    str,
    StringConstraints(max_length=1024, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"),
]


class Lmi(StrictModel):
    """DJL-LMI serving settings; each maps to one container environment variable."""

    rolling_batch: RollingBatch | None = None
    max_rolling_batch_size: int | None = Field(default=None, ge=1, le=4096)
    job_queue_size: int | None = Field(default=None, ge=1, le=100_000)
    tensor_parallel_degree: int | None = Field(default=None, ge=1, le=64)
    quantization: Quantization = "none"
    max_model_len: int | None = Field(default=None, ge=16, le=2_097_152)
    dtype: DType | None = None
    max_loras: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="LoRA adapters served in one batch (OPTION_MAX_LORAS; default 4 once the "
        "model has adapters). Setting it or maxLoraRank turns LoRA on without adapters too.",
    )
    max_lora_rank: int | None = Field(
        default=None,
        ge=1,
        le=512,
        description="The largest rank of the model's LoRA adapters (OPTION_MAX_LORA_RANK; "
        "default 16 once the model has adapters).",
    )
    extra_env: Annotated[
        Mapping[EnvName, EnvValue], AfterValidator(_freeze), PlainSerializer(dict)
    ] = Field(default_factory=dict, description="More container environment variables (16 in all).")


class Resources(StrictModel):
    """What one copy of the model reserves on an instance."""

    accelerators: int = Field(ge=1, le=64, description="GPUs or Neuron devices per copy.")
    memory_mib: int = Field(ge=128, alias="memoryMiB", description="Host memory per copy.")
    cpu_cores: float | None = Field(default=None, ge=0.25, le=192)


class ScheduledScaling(StrictModel):
    """A scheduled action of Application Auto Scaling on the copies (or a dedicated endpoint's
    instances): from each time the cron fires, autoscaling keeps between `min` and `max`."""

    cron: Annotated[str, StringConstraints(min_length=9, max_length=256)] = Field(
        description="When it applies: Application Auto Scaling's six cron fields (minutes "
        "hours day-of-month month day-of-week year), e.g. `0 8 ? * MON-FRI *`; `cron(...)` "
        "around them is optional."
    )
    timezone: Timezone = Field(default="UTC", description="The cron's time zone.")
    min: int = Field(ge=0, le=1000, description="The fewest copies from then on.")
    max: int = Field(ge=0, le=1000, description="The most copies from then on.")
    name: Name | None = Field(
        default=None, description="The scheduled action's name. Default: from its position."
    )


class Autoscaling(StrictModel):
    metric: Literal["concurrent-requests-per-copy", "invocations-per-copy"] = (
        "concurrent-requests-per-copy"
    )
    target: float = Field(gt=0, le=100_000)
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=86_400)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=86_400)
    schedule: tuple[ScheduledScaling, ...] = Field(
        default=(),
        max_length=50,
        description="Scheduled min/max copies, e.g. warm in office hours and zero at night.",
    )


class RollbackOn(StrictModel):
    error_rate_percent: float | None = Field(default=None, gt=0, le=100)
    p95_latency_ms: int | None = Field(default=None, gt=0, alias="p95LatencyMs")


class ModelRollout(StrictModel):
    """Rolling update of copies, rolled back by alarms."""

    batch_copies: int = Field(default=1, ge=1)
    wait_seconds: int = Field(default=120, ge=0, le=3600)
    rollback_on: RollbackOn = RollbackOn()


class Architecture(StrictModel):
    """The figures of the model's config.json that size its KV cache: per token, K and V of
    every layer, `2 × layers × kvHeads × headDim` values. With them `validate` checks that
    maxRollingBatchSize sequences of maxModelLen tokens fit beside the weights."""

    layers: int = Field(ge=1, le=1000, description="num_hidden_layers.")
    kv_heads: int = Field(
        ge=1, le=1024, description="num_key_value_heads (num_attention_heads without GQA)."
    )
    head_dim: int = Field(
        ge=1, le=4096, description="head_dim (hidden_size ÷ num_attention_heads if absent)."
    )


class Slo(StrictModel):
    """What the model must achieve from the outside, measured by `llmdeploy bench` (and
    `deploy --slo-check`) at `atConcurrency` concurrent requests. Unset figures are not judged."""

    ttft_ms: float | None = Field(
        default=None, gt=0, le=600_000, description="Time to first token, p50 (ms)."
    )
    tpot_ms: float | None = Field(
        default=None,
        gt=0,
        le=60_000,
        description="Time per output token after the first, p50 (ms).",
    )
    p95_latency_ms: float | None = Field(
        default=None,
        gt=0,
        le=3_600_000,
        alias="p95LatencyMs",
        description="End-to-end latency of a whole answer, p95 (ms).",
    )
    error_rate_percent: float | None = Field(
        default=None, ge=0, le=100, description="Failed or throttled requests, in percent."
    )
    at_concurrency: int = Field(
        default=1, ge=1, le=1024, description="Concurrent requests the figures hold at."
    )


# The request and response schema LMI speaks for this model (djl-serving
# lmi_input_output_schema.md): `{"inputs", "parameters"}` with TGI-style JSON-lines streaming,
# or the OpenAI-style chat completions schema (`{"messages"}`).
RequestFormat = Literal["text-generation", "chat-completions"]


class ModelSpec(StrictModel):
    endpoint: Name | None = None
    dedicated: Dedicated | None = None
    adapter_of: Name | None = Field(
        default=None,
        description="A LoRA adapter of this base model (a Model on a shared endpoint): it runs "
        "on the base's copies, and source.s3Uri holds the adapter's weights.",
    )
    source: Source
    size_billions: float | None = Field(default=None, gt=0, le=10_000)
    architecture: Architecture | None = None
    container: Container
    lmi: Lmi = Lmi()
    resources: Resources | None = None
    copies: Counts | None = None
    autoscaling: Autoscaling | None = None
    rollout: ModelRollout = ModelRollout()
    request_format: RequestFormat = Field(
        default="text-generation",
        description="How invoke, bench and probe talk to the model: text-generation "
        "(inputs/parameters) or chat-completions (messages).",
    )
    slo: Slo | None = None
    traffic: Traffic | None = Field(
        default=None, description="How busy the model is; default: the environment's."
    )
    # Validated after the merge: each entry is a partial `spec` deep-merged for that environment.
    environments: FrozenMap[FrozenMap[Any]] = Field(
        default_factory=dict, description="Per-environment overrides of spec fields, deep-merged."
    )


class Model(StrictModel):
    api_version: Literal["llmdeploy/v1"]
    kind: Literal["Model"]
    metadata: ModelMetadata
    spec: ModelSpec

    @property
    def name(self) -> str:
        return self.metadata.name


KINDS: dict[str, type[Environment] | type[Model]] = {"Environment": Environment, "Model": Model}
