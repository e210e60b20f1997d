"""The rules the compiler enforces (DESIGN.md, "Rules the compiler must enforce").

Each rule is a function registered under an id, checks one thing about an environment or a
model resolved in it, and yields diagnostics that name the field, the bad value and the fix.
`llmdeploy validate --rules` lists them; the tests show each one's message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from llmdeploy.catalog import engines, images, instances
from llmdeploy.catalog.engines import MAX_ENV_VARS
from llmdeploy.errors import Diagnostic
from llmdeploy.plan import checks, leaks, memory, trust
from llmdeploy.plan.cost import shape_devices, shared_fit
from llmdeploy.plan.resolve import (
    USABLE_MEMORY_FRACTION,
    ResolvedEnvironment,
    ResolvedModel,
    usable_mib_per_device,
)
from llmdeploy.spec.diagnose import suggest
from llmdeploy.spec.loader import EnvironmentDoc, Portfolio

NAME_LIMIT = 63  # SageMaker endpoint and inference component names


@dataclass(frozen=True)
class Rule:
    id: str
    scope: str  # "portfolio" | "environment" | "model" | "endpoint"
    summary: str
    check: Callable[..., Iterator[Diagnostic]]


RULES: dict[str, Rule] = {}


def rule(id: str, scope: str, summary: str):
    def register(fn: Callable[..., Iterator[Diagnostic]]):
        RULES[id] = Rule(id, scope, summary, fn)
        return fn

    return register


def run_portfolio(portfolio: Portfolio, selected: Sequence[str] = ()) -> list[Diagnostic]:
    """The rules that compare environments with each other. They run on every environment of
    the portfolio, also when ``selected`` (--env) names only some: a clash with an environment
    that is not selected still breaks the selected one."""
    return [
        dataclasses.replace(d, rule=r.id)
        for r in RULES.values()
        if r.scope == "portfolio"
        for d in r.check(portfolio, selected)
    ]


def run(env: ResolvedEnvironment, known_environments: list[str]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for r in RULES.values():
        if r.scope == "portfolio":
            continue  # run_portfolio
        if r.scope == "environment":
            found = list(r.check(env.doc))
        elif r.scope == "endpoint":
            found = [dataclasses.replace(d, environment=env.name) for d in r.check(env)]
        else:
            found = [
                # Model rules run per environment; a finding that holds in every environment
                # is merged back into one by the caller.
                dataclasses.replace(d, environment=env.name) if d.environment is None else d
                for model in env.models
                for d in r.check(model, env, known_environments)
            ]
        out.extend(dataclasses.replace(d, rule=r.id) for d in found)
    return out


def _warning(d: Diagnostic) -> Diagnostic:
    return dataclasses.replace(d, severity="warning")


# How the YAML path names the fields of `plan.checks` (the rules both front ends run): where
# a finding is located, and how its message spells the field.
_SPEC_FIELDS: dict[str, tuple[str | int, ...]] = {
    "accelerators": ("spec", "resources", "accelerators"),
    "memory_mib": ("spec", "resources", "memoryMiB"),
    "cpu_cores": ("spec", "resources", "cpuCores"),
    "tensor_parallel_degree": ("spec", "lmi", "tensorParallelDegree"),
    "copies_min": ("spec", "copies", "min"),
    "copies_max": ("spec", "copies", "max"),
    "engine": ("spec", "container", "engine"),
    "quantization": ("spec", "lmi", "quantization"),
    "image": ("spec", "container", "image"),
}
_SPEC_SPELLING = {field: ".".join(map(str, path)) for field, path in _SPEC_FIELDS.items()} | {
    "engine_choice": "engine:",
    "add_autoscaling": "add `autoscaling: {metric: concurrent-requests-per-copy, target: 4}`",
}


def _assign(field: str, value: Any) -> str:
    """A setting in the YAML's own words, within `spec`: `lmi.tensorParallelDegree: 2`."""
    return f"{'.'.join(map(str, _SPEC_FIELDS[field][1:]))}: {value}"


def _located(m: ResolvedModel, findings: Iterator[checks.Finding]) -> Iterator[Diagnostic]:
    """`plan.checks` findings as diagnostics located in the model's spec file."""
    for f in findings:
        message, fix = f.render(_SPEC_SPELLING, _assign)
        d = m.source.diagnostic(_SPEC_FIELDS[f.field], message, value=f.value, fix=fix)
        yield _warning(d) if f.severity == "warning" else d


def _fmt_gib(mib: float) -> str:
    return f"{mib / 1024:.1f} GiB"


# --- environment ------------------------------------------------------------------------------


@rule("endpoint-names-unique", "environment", "Endpoint names are unique in an environment.")
def _endpoint_names_unique(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for i, ep in enumerate(doc.environment_spec.endpoints):
        if ep.name in seen:
            yield doc.source.diagnostic(
                ("spec", "endpoints", i, "name"),
                f"endpoint '{ep.name}' is defined twice",
                value=ep.name,
                fix="give each endpoint its own name",
            )
        seen.add(ep.name)


@rule("instance-type-known", "environment", "Endpoint instance types are in the catalog.")
def _endpoint_instance_known(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    for i, ep in enumerate(doc.environment_spec.endpoints):
        if instances.get(ep.instance_type) is None:
            yield _unknown_instance(
                doc.source, ("spec", "endpoints", i, "instanceType"), ep.instance_type
            )


def _unknown_instance(source, path, name: str) -> Diagnostic:
    return source.diagnostic(
        path,
        "is not an instance type llmdeploy knows",
        value=name,
        fix=suggest(name, instances.names(), "known types"),
    )


@rule("instances-ordered", "environment", "Endpoint instances: min ≤ initial ≤ max.")
def _instances_ordered(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    for i, ep in enumerate(doc.environment_spec.endpoints):
        yield from _ordered(
            doc.source, ("spec", "endpoints", i, "instances"), ep.instances, "instances"
        )


def _ordered(source, path, counts, what: str) -> Iterator[Diagnostic]:
    if counts.min > counts.initial:
        yield source.diagnostic(
            (*path, "min"),
            f"{what}.min is above {what}.initial ({counts.initial})",
            value=counts.min,
            fix=f"keep min ≤ initial ≤ max, e.g. min: {counts.initial}",
        )
    if counts.initial > counts.max:
        yield source.diagnostic(
            (*path, "initial"),
            f"{what}.initial is above {what}.max ({counts.max})",
            value=counts.initial,
            fix=f"keep min ≤ initial ≤ max, e.g. max: {counts.initial}",
        )


@rule(
    "volume-only-without-nvme",
    "environment",
    "volumeSizeGB (and KMS on the endpoint config) only where instances have no local NVMe.",
)
def _volume_without_nvme(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    for i, ep in enumerate(doc.environment_spec.endpoints):
        inst = instances.get(ep.instance_type)
        if inst and inst.local_nvme and ep.volume_size_gb is not None:
            yield doc.source.diagnostic(
                ("spec", "endpoints", i, "volumeSizeGB"),
                f"{ep.instance_type} has local NVMe storage; SageMaker refuses VolumeSizeInGB "
                "(and KmsKeyId) for it: the storage is encrypted by the instance's hardware",
                value=ep.volume_size_gb,
                fix="remove volumeSizeGB from this endpoint",
            )


@rule(
    "endpoint-name-length",
    "environment",
    "<stackPrefix>-<endpoint> fits SageMaker's 63 characters.",
)
def _endpoint_name_length(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    prefix = doc.spec.stack_prefix
    for i, ep in enumerate(doc.environment_spec.endpoints):
        full = f"{prefix}-{ep.name}"
        if len(full) > NAME_LIMIT:
            yield doc.source.diagnostic(
                ("spec", "endpoints", i, "name"),
                f"the endpoint's SageMaker name '{full}' is {len(full)} characters; the limit "
                f"is {NAME_LIMIT}",
                value=ep.name,
                fix=f"shorten the name to {NAME_LIMIT - len(prefix) - 1} characters or fewer, "
                "or set a shorter spec.stackPrefix",
            )


@rule(
    "endpoint-rollout-valid",
    "environment",
    "A linear rollout steps 10-50% at a time, and all its waits fit SageMaker's 8 hours.",
)
def _endpoint_rollout(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    for i, ep in enumerate(doc.environment_spec.endpoints):
        r = ep.rollout
        path = ("spec", "endpoints", i, "rollout")
        if r.strategy == "linear" and r.traffic_percent < 10:
            yield doc.source.diagnostic(
                (*path, "trafficPercent"),
                "SageMaker's linear steps are 10% to 50% of the capacity",
                value=r.traffic_percent,
                fix="set trafficPercent between 10 and 50",
            )
            continue
        steps = -(-100 // r.traffic_percent) if r.strategy == "linear" else 1
        # Every step waits; SageMaker's whole blue/green update must end within 8 hours, and
        # llmdeploy keeps 30 minutes of that for bringing the new instances up.
        if r.strategy != "all-at-once" and r.wait_seconds * (steps + 1) + 1800 > 28_800:
            yield doc.source.diagnostic(
                (*path, "waitSeconds"),
                f"{steps} step(s) of {r.wait_seconds} s (plus the final bake) do not fit "
                "SageMaker's 8-hour limit for an endpoint update",
                value=r.wait_seconds,
                fix=f"wait at most {(28_800 - 1800) // (steps + 1)} s per step, or take "
                "larger steps",
            )


@rule(
    "endpoint-rollout-fleet",
    "environment",
    "A canary or linear rollout needs an endpoint that keeps at least two instances.",
)
def _endpoint_rollout_fleet(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    # SageMaker: a canary is at most 50% of the variant's instances, a linear step 10-50%
    # (TrafficRoutingConfig). One instance is 100% of a fleet of one, and any fleet whose
    # instances.min is 0 or 1 is sometimes exactly one instance: no step is both a whole
    # instance and at most half of the fleet. (How SageMaker rounds a percentage of a larger
    # fleet is not documented; it is left to SageMaker.) docs/rollouts.md has the sources.
    need = engines.TRAFFIC_SHIFTING_MIN_INSTANCES
    for i, ep in enumerate(doc.environment_spec.endpoints):
        r = ep.rollout
        if r.strategy == "all-at-once" or ep.instances.min >= need:
            continue
        step = "canary" if r.strategy == "canary" else "linear step"
        bound = (
            f"at most {engines.CANARY_MAX_PERCENT}%"
            if r.strategy == "canary"
            else "{}% to {}%".format(*engines.LINEAR_STEP_PERCENT)
        )
        yield doc.source.diagnostic(
            ("spec", "endpoints", i, "rollout", "strategy"),
            f"a {step} is {bound} of the endpoint's instances, but endpoint '{ep.name}' can "
            f"run on a single instance (instances.min: {ep.instances.min}): a {step} of one "
            "instance is the whole fleet",
            value=r.strategy,
            fix=f"use strategy: all-at-once (SageMaker's default: one step, then the "
            f"waitSeconds bake with rollback), or set instances.min: {need}",
        )


@rule(
    "stack-names-unique",
    "portfolio",
    "Environments in one account and region never share stack or SageMaker names.",
)
def _stack_names_unique(portfolio: Portfolio, selected: Sequence[str]) -> Iterator[Diagnostic]:
    models = [m.spec.name for m in portfolio.models]
    seen: list[tuple[EnvironmentDoc, set[str]]] = []
    for doc in portfolio.environments:
        names = _physical_names(doc, models)
        for other, other_names in seen:
            if (other.environment_spec.account, other.environment_spec.region) != (
                doc.environment_spec.account,
                doc.environment_spec.region,
            ):
                continue
            if selected and not {doc.spec.name, other.spec.name} & set(selected):
                continue  # neither is checked in this run
            shared = sorted(names & other_names)
            if not shared:
                continue
            prefix, theirs = doc.spec.stack_prefix, other.spec.stack_prefix
            where = f"account {doc.environment_spec.account}, {doc.environment_spec.region}"
            if prefix == theirs:
                clash = f"uses the stack prefix '{prefix}' like environment '{other.spec.name}'"
            else:
                clash = (
                    f"(prefix '{prefix}') and environment '{other.spec.name}' (prefix "
                    f"'{theirs}') both name '{shared[0]}'"
                )
            taken = {e.spec.stack_prefix for e in portfolio.environments}
            candidates = (f"llmdeploy-{doc.spec.name}", f"{theirs}-{doc.spec.name}")
            wanted = next((c for c in candidates if c not in taken), f"{prefix}-2")
            explicit = doc.environment_spec.stack_prefix is not None
            yield doc.source.diagnostic(
                ("spec", "stackPrefix") if explicit else ("metadata", "name"),
                f"environment '{doc.spec.name}' {clash} in the same account and region "
                f"({where}): {len(shared)} stack and SageMaker name(s) would be shared, and "
                "deploying one environment would update or delete the other's resources",
                value=prefix if explicit else doc.spec.name,
                environment=doc.spec.name,
                fix=f"set spec.stackPrefix: {wanted} in environment '{doc.spec.name}' (or move "
                "it to another account or region)",
            )
            break  # one clash per environment is enough
        seen.append((doc, names))


def _physical_names(doc: EnvironmentDoc, models: Sequence[str]) -> set[str]:
    """The names an environment's stacks take in its account and region: stack names and the
    SageMaker names inside them (as `synth.stacks.Names` forms them)."""
    p = doc.spec.stack_prefix
    endpoints = [e.name for e in doc.environment_spec.endpoints]
    return (
        {f"{p}-endpoint-{e}" for e in endpoints}
        | {f"{p}-model-{m}" for m in models}
        | {f"{p}-{n}" for n in (*endpoints, *models)}
        | {f"{p}-dashboards"}
    )


@rule("pricing-known-types", "environment", "spec.pricing names known instance types.")
def _pricing_known(doc: EnvironmentDoc) -> Iterator[Diagnostic]:
    for name in doc.environment_spec.pricing:
        if instances.get(name) is None:
            d = _unknown_instance(doc.source, ("spec", "pricing", name), name)
            yield dataclasses.replace(
                d, severity="warning", message="prices an instance type llmdeploy does not know"
            )


# --- model ------------------------------------------------------------------------------------


@rule(
    "placement-exactly-one",
    "model",
    "A model has either `endpoint` or `dedicated` (an adapter: neither, it runs on its base's).",
)
def _placement(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]) -> Iterator[Diagnostic]:
    spec = m.model_spec
    if m.adapter:
        return  # adapter-no-placement and adapter-base-shared say where it runs
    if spec.endpoint and spec.dedicated:
        yield m.source.diagnostic(
            ("spec", "dedicated"),
            "a model lives on a shared endpoint or a dedicated one, not both",
            key=True,
            fix="remove `dedicated` (or `endpoint`)",
        )
    elif not spec.endpoint and not spec.dedicated:
        yield m.source.diagnostic(
            ("spec", "endpoint"),
            "the model has no place to run",
            key=True,
            fix="set spec.endpoint to a shared endpoint of the environment, or spec.dedicated",
        )


@rule("endpoint-exists", "model", "A model's endpoint exists in the environment.")
def _endpoint_exists(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    if spec.endpoint and not spec.dedicated and m.endpoint is None:
        names = [e.name for e in env.doc.environment_spec.endpoints]
        yield m.source.diagnostic(
            ("spec", "endpoint"),
            f"environment '{env.name}' has no endpoint '{spec.endpoint}'",
            value=spec.endpoint,
            fix=suggest(spec.endpoint, names, "its endpoints"),
        )


@rule("dedicated-instance-known", "model", "A dedicated endpoint's instance type is known.")
def _dedicated_known(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    ded = m.model_spec.dedicated
    if ded is not None:
        if instances.get(ded.instance_type) is None:
            yield _unknown_instance(
                m.source, ("spec", "dedicated", "instanceType"), ded.instance_type
            )
        yield from _ordered(
            m.source, ("spec", "dedicated", "instances"), ded.instances, "instances"
        )


@rule(
    "dedicated-keeps-an-instance",
    "model",
    "A dedicated endpoint keeps instances.min ≥ 1 (only inference components scale to zero).",
)
def _dedicated_min(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    ded = m.model_spec.dedicated
    if ded is not None and ded.instances.min == 0:
        yield m.source.diagnostic(
            ("spec", "dedicated", "instances", "min"),
            "a single-model endpoint cannot scale to zero instances; SageMaker scales to zero "
            "only endpoints that host inference components",
            value=0,
            fix="set instances.min: 1, or move the model to a shared endpoint "
            "(spec.endpoint) whose instances.min is 0",
        )


@rule(
    "dedicated-scaling-needs-autoscaling",
    "model",
    "A dedicated endpoint whose instances.max is above min has autoscaling to get there.",
)
def _dedicated_scaling(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    ded = m.model_spec.dedicated
    if (
        ded is None
        or m.model_spec.autoscaling is not None
        or ded.instances.max <= ded.instances.min
    ):
        return
    n = ded.instances
    same = (
        f"set instances.max: {n.min}"
        if n.initial == n.min
        else f"set instances to {{min: {n.initial}, initial: {n.initial}, max: {n.initial}}}"
    )
    yield m.source.diagnostic(
        ("spec", "dedicated", "instances", "max"),
        f"without autoscaling the endpoint stays at {n.initial} instance(s) and never uses "
        f"the range up to {n.max}: a scaling target with no policy only looks like scaling",
        value=n.max,
        fix=f"add `autoscaling: {{metric: concurrent-requests-per-copy, target: 16}}` (target "
        f"tracking on the instance count), or {same}",
    )


@rule(
    "shared-needs-resources-and-copies",
    "model",
    "A model on a shared endpoint states its resources and copies.",
)
def _shared_needs(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    if spec.dedicated is None and spec.endpoint:
        for key, example in (
            ("resources", "{accelerators: 1, memoryMiB: 32768}"),
            ("copies", "{min: 1, initial: 1, max: 2}"),
        ):
            if getattr(spec, key) is None:
                yield m.source.diagnostic(
                    ("spec", key),
                    f"a model on a shared endpoint needs spec.{key}",
                    key=True,
                    fix=f"add `{key}: {example}` (what one copy reserves / how many copies)",
                )


@rule(
    "copies-ordered",
    "model",
    "copies: min ≤ initial ≤ max, initial ≥ 1 (an IC cannot start with 0 copies).",
)
def _copies_ordered(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    copies = m.model_spec.copies
    if copies is not None:
        yield from _ordered(m.source, ("spec", "copies"), copies, "copies")


@rule(
    "rollout-batch-within-copies",
    "model",
    "rollout.batchCopies is 5% to 50% of copies.max (SageMaker's rolling-update batch).",
)
def _rollout_batch(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    copies = m.model_spec.copies
    if copies is None or m.dedicated:
        return
    batch = m.model_spec.rollout.batch_copies
    low, high = engines.rolling_batch_limits(copies.max)
    path = ("spec", "rollout", "batchCopies")
    # docs/rollouts.md: InferenceComponentRollingUpdatePolicy.MaximumBatchSize is 5% to 50%
    # of the copy count; llmdeploy compiles the batch as that share of copies.max.
    if batch > high:
        yield m.source.diagnostic(
            path,
            f"SageMaker replaces at most 50% of a model's copies per batch; with copies.max "
            f"{copies.max} a batch holds at most {high} cop{'y' if high == 1 else 'ies'}",
            value=batch,
            fix=f"set batchCopies: {high}, or raise copies.max to {2 * batch}",
        )
    elif batch < low:
        d = m.source.diagnostic(
            path,
            f"SageMaker replaces at least 5% of a model's copies per batch; with copies.max "
            f"{copies.max} a batch holds up to {m.rollout_batch_copies} copies, not {batch}",
            value=batch,
            fix=f"set batchCopies: {low} (what the update will do anyway), and leave room for "
            "it on the endpoint",
        )
        yield _warning(d)


@rule(
    "scale-to-zero-needs-autoscaling",
    "model",
    "copies.min 0, or max above min, needs autoscaling to ever change the count.",
)
def _zero_needs_scaling(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    if spec.copies is None:
        return
    c = spec.copies
    yield from _located(
        m,
        checks.scale_to_zero_needs_autoscaling(
            c.min, c.initial, c.max, spec.autoscaling is not None
        ),
    )


@rule(
    "scale-to-zero-endpoint-min",
    "model",
    "A scale-to-zero model saves money only if its endpoint can release instances.",
)
def _zero_endpoint(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    copies = m.model_spec.copies
    if copies is None or copies.min != 0 or m.endpoint is None:
        return
    if m.endpoint.instances.min > 0 and all(
        (o.model_spec.copies and o.model_spec.copies.min == 0)
        for o in env.models_on(m.endpoint.name)
    ):
        d = m.source.diagnostic(
            ("spec", "copies", "min"),
            f"every model on endpoint '{m.endpoint.name}' can scale to zero, but the endpoint "
            f"keeps instances.min: {m.endpoint.instances.min} instances running",
            value=0,
            fix=f"set instances.min: 0 on endpoint '{m.endpoint.name}' to stop paying "
            "for idle instances",
        )
        yield _warning(d)


@rule(
    "tp-matches-accelerators",
    "model",
    "tensorParallelDegree equals resources.accelerators (each copy sees only its own devices).",
)
def _tp_matches(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    accelerators = spec.resources.accelerators if spec.resources is not None else None
    yield from _located(
        m,
        checks.tp_matches_accelerators(spec.lmi.tensor_parallel_degree, accelerators, m.instance),
    )


@rule(
    "copy-fits-instance",
    "model",
    "One copy's accelerators, memory and CPU cores fit on one instance.",
)
def _copy_fits(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    res = m.model_spec.resources
    if res is None:
        return
    yield from _located(
        m, checks.copy_fits_instance(m.instance, res.accelerators, res.memory_mib, res.cpu_cores)
    )


@rule(
    "engine-matches-hardware",
    "model",
    "djl-lmi runs on GPU instances, djl-neuronx on Inferentia2/Trainium.",
)
def _engine_hardware(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    yield from _located(m, checks.engine_matches_hardware(m.engine, m.instance))


@rule(
    "quantization-supported",
    "model",
    "Quantization is one the engine knows and the hardware computes (FP8: Ada/Hopper only).",
)
def _quantization(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    q = m.model_spec.lmi.quantization
    path = ("spec", "lmi", "quantization")
    allowed = m.engine.quantizations
    if m.model_spec.lmi.rolling_batch == "trtllm":
        allowed = ("none", "awq", "fp8", "smoothquant")
    if q not in allowed:
        yield m.source.diagnostic(
            path,
            f"{m.engine.name} does not support quantization '{q}'",
            value=q,
            fix=f"use one of: {', '.join(allowed)}",
        )
    else:
        yield from _located(m, checks.fp8_needs_hardware(q, m.instance))


@rule(
    "rolling-batch-supported",
    "model",
    "rollingBatch is one the engine and image version offer (lmi-dist is gone from 0.33.0).",
)
def _rolling_batch(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    rb = m.model_spec.lmi.rolling_batch
    path = ("spec", "lmi", "rollingBatch")
    if rb is None:
        return
    if rb not in m.engine.rolling_batches:
        yield m.source.diagnostic(
            path,
            f"{m.engine.name} has no rolling batch backend '{rb}'",
            value=rb,
            fix=f"use one of: {', '.join(m.engine.rolling_batches)}",
        )
    elif (
        rb == "lmi-dist"
        and m.version
        and images.version_key(m.version) >= images.version_key(engines.LMI_DIST_REMOVED_IN)
    ):
        yield m.source.diagnostic(
            path,
            f"lmi-dist was removed in LMI {engines.LMI_DIST_REMOVED_IN}; this model uses "
            f"{m.version}",
            value=rb,
            fix="use rollingBatch: vllm",
        )
    elif rb == "trtllm" and not m.model_spec.container.image:
        yield m.source.diagnostic(
            path,
            "trtllm runs in the TensorRT-LLM image, not djl-lmi's vLLM image",
            value=rb,
            fix="set container.image to a djl-inference ...-tensorrtllm... image, or use vllm",
        )


@rule(
    "image-available",
    "model",
    "The engine version exists and has an image in the environment's region.",
)
def _image(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    c = m.model_spec.container
    if c.image or m.version is None:
        return
    versions = m.engine.versions
    region = env.doc.environment_spec.region
    if m.version not in versions:
        yield m.source.diagnostic(
            ("spec", "container", "version"),
            f"{m.engine.name} has no version {m.version} in the SageMaker SDK's image table",
            value=m.version,
            fix=suggest(m.version, versions, "known versions"),
        )
    elif m.image is None:
        regions = images.regions(m.engine.framework, m.version)
        yield m.source.diagnostic(
            ("spec", "container", "version"),
            f"no {m.engine.name} {m.version} image is published in {region}",
            value=m.version,
            fix=f"pick a region with one ({', '.join(regions[:6])}...) or set "
            "container.image to an image copied into your account",
        )


@rule(
    "image-in-region",
    "model",
    "An ECR image is in the environment's region (SageMaker pulls from no other).",
)
def _image_region(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    yield from _located(m, checks.image_in_region(m.image, env.doc.environment_spec.region))


@rule(
    "weights-fit",
    "model",
    "The weights (sizeBillions × bytes per parameter) fit in one copy's accelerator memory.",
)
def _weights_fit(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    size, weights_mib = m.model_spec.size_billions, m.weights_mib
    devices = m.devices_per_replica
    if weights_mib is None or m.instance is None or devices is None:
        return
    lmi = m.model_spec.lmi
    bpp = m.bytes_per_parameter
    per_device = usable_mib_per_device(m.instance)
    usable_mib = devices * per_device
    if weights_mib > usable_mib:
        need = int(-(-weights_mib // per_device))
        yield m.source.diagnostic(
            ("spec", "sizeBillions"),
            f"weights take {_fmt_gib(weights_mib)} ({size:g}B parameters × {bpp:g} bytes, "
            f"quantization {lmi.quantization}) but {devices} × {m.instance.accelerator} give "
            f"{_fmt_gib(usable_mib)} usable ({USABLE_MEMORY_FRACTION:.0%}), with nothing left "
            "for the KV cache",
            value=size,
            fix=(
                f"use at least {need} {m.instance.device_word} per copy (resources.accelerators "
                "and tensorParallelDegree)"
                if need <= m.instance.devices
                else "use an instance type with more accelerator memory"
            )
            + (", or a quantized checkpoint (awq, gptq, fp8)" if bpp > 1 else ""),
        )


@rule(
    "kv-cache-fits",
    "model",
    "With `architecture` and maxModelLen set, the weights plus the KV cache of "
    "maxRollingBatchSize sequences of maxModelLen tokens fit in one copy's accelerator memory.",
)
def _kv_cache_fits(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    weights_mib, devices, inst = m.weights_mib, m.devices_per_replica, m.instance
    kv_mib = memory.kv_cache_mib(spec)
    if weights_mib is None or kv_mib is None or inst is None or devices is None:
        return
    usable = memory.usable_mib(inst, devices)
    if weights_mib > usable or weights_mib + kv_mib <= usable:
        return  # weights-fit speaks for the first; the second fits
    arch, lmi = spec.architecture, spec.lmi
    assert arch is not None and lmi.max_model_len is not None
    per_token = memory.kv_bytes_per_token(arch, lmi.dtype, lmi.extra_env)
    batch = memory.sequences(spec)
    free_tokens = (usable - weights_mib) * 2**20 / per_token
    fit_batch = int(free_tokens // lmi.max_model_len)
    fit_len = int(free_tokens // batch)
    options = []
    if fit_batch >= 1:
        options.append(f"maxRollingBatchSize: {fit_batch} (at maxModelLen {lmi.max_model_len})")
    if fit_len >= 16:
        options.append(f"maxModelLen: {fit_len} (at this batch)")
    need = shape_devices(m, inst)
    if need is not None:
        options.append(
            f"{need} {inst.device_word} per copy (resources.accelerators and tensorParallelDegree)"
        )
    options.append("a KV cache in FP8 (extraEnv OPTION_KV_CACHE_DTYPE: fp8)")
    seqs = f"{batch} sequence{'s' if batch != 1 else ''}"
    unset = "" if lmi.max_rolling_batch_size else " (maxRollingBatchSize is unset: 1 counted)"
    field = ("spec", "lmi", "maxRollingBatchSize" if lmi.max_rolling_batch_size else "maxModelLen")
    value = lmi.max_rolling_batch_size or lmi.max_model_len
    yield m.source.diagnostic(
        field,
        f"the weights fit but the KV cache does not: {seqs} × {lmi.max_model_len} tokens"
        f"{unset} × {per_token / 1024:g} KiB a token (2 × {arch.layers} layers × "
        f"{arch.kv_heads} KV heads × {arch.head_dim} × "
        f"{memory.kv_bytes_per_value(lmi.dtype, lmi.extra_env)} bytes) = {_fmt_gib(kv_mib)}, "
        f"plus {_fmt_gib(weights_mib)} of weights, is more than the {_fmt_gib(usable)} usable "
        f"on {devices} × {inst.accelerator} ({USABLE_MEMORY_FRACTION:.0%}); room is left for "
        f"{int(free_tokens):,} tokens, and LMI would fail at load or never reach this batch",
        value=value,
        fix="use " + ", or ".join(options),
    )


@rule("env-vars-limit", "model", f"At most {MAX_ENV_VARS} container environment variables.")
def _env_limit(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    count = len(m.environment)
    if count > MAX_ENV_VARS:
        typed = len(set(m.environment) - set(m.model_spec.lmi.extra_env))
        yield m.source.diagnostic(
            ("spec", "lmi", "extraEnv"),
            f"the container would get {count} environment variables ({typed} from the LMI "
            f"settings and the weights' location and loading timeout, "
            f"{len(m.model_spec.lmi.extra_env)} from extraEnv); SageMaker allows "
            f"{MAX_ENV_VARS} per inference component",
            key=True,
            fix=f"remove {count - MAX_ENV_VARS} extraEnv entries (defaults need none)",
        )


@rule("extra-env-no-shadowing", "model", "extraEnv does not set what a typed LMI setting owns.")
def _no_shadow(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    for key in m.model_spec.lmi.extra_env:
        owner = engines.ENV_ALIASES.get(key.upper())
        if owner:
            yield m.source.diagnostic(
                ("spec", "lmi", "extraEnv", key),
                f"{key} is set by llmdeploy from {owner}; two sources would disagree",
                key=True,
                fix=f"remove {key} from extraEnv and set {owner} instead",
            )


@rule(
    "lmi-loading-timeout",
    "model",
    "An OPTION_MODEL_LOADING_TIMEOUT in extraEnv is never shorter than SageMaker's startup "
    "timeout.",
)
def _loading_timeout(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    name = engines.LOADING_TIMEOUT_ENV
    raw = m.model_spec.lmi.extra_env.get(name)
    if raw is None:
        return  # llmdeploy sets it equal to the startup timeout
    path = ("spec", "lmi", "extraEnv", name)
    startup = m.startup_timeout_seconds
    seconds = engines.user_loading_timeout(m.model_spec.lmi.extra_env)
    if seconds is None:
        yield m.source.diagnostic(
            path,
            "is LMI's model-loading timeout, a whole number of seconds",
            value=raw,
            fix=f'write it as a quoted number of seconds, e.g. "{startup}", or remove it',
        )
    elif seconds < startup:
        # LMI would give up loading while SageMaker still waits: the copy fails to start
        # although SageMaker's timeout (derived from sizeBillions) allowed it more time.
        yield m.source.diagnostic(
            path,
            f"LMI would stop loading the model after {seconds} s while SageMaker waits "
            f"{startup} s for it (its startup health check, from sizeBillions: "
            f"{m.model_spec.size_billions or engines.STARTUP_BASE_BILLIONS:g}B)",
            value=raw,
            fix=f'set {name}: "{startup}" or more, or remove it (llmdeploy then sets it to '
            f"{startup})",
        )
    elif seconds > engines.STARTUP_TIMEOUT_MAX:
        d = m.source.diagnostic(
            path,
            f"SageMaker waits at most {engines.STARTUP_TIMEOUT_MAX} s for a container to start; "
            "a copy still loading then is stopped whatever LMI's timeout says",
            value=raw,
            fix=f'set {name}: "{engines.STARTUP_TIMEOUT_MAX}" or less, and make loading faster '
            "(fewer bytes: a quantized checkpoint; more devices per copy)",
        )
        yield _warning(d)


# No spec value leaks a secret (plan/leaks.py) or widens a grant (plan/trust.py).
rule(
    "no-secrets",
    "portfolio",
    "No string of a spec holds a credential (container variables are plaintext in SageMaker); "
    "a secret's ARN in a container variable is passed as text (a warning).",
)(leaks.no_secrets)
rule(
    "no-dynamic-references",
    "portfolio",
    "No string of a spec holds a {{resolve:...}} reference (CloudFormation would deploy its "
    "plaintext).",
)(leaks.no_dynamic_references)
rule(
    "s3-source-scoped",
    "model",
    "source.s3Uri is one folder below the bucket root, ending in /, or one .tar.gz object.",
)(trust.s3_source_scoped)
rule(
    "image-registry-allowed",
    "model",
    "container.image names one repository in the environment's region, in a Deep Learning "
    "Containers registry or one of spec.security.imageRegistries.",
)(trust.image_registry_allowed)
rule(
    "kms-key-scoped",
    "environment",
    "kmsKeyArn is one key's full ARN in the environment's region and account (another account "
    "with allowForeignKmsKey: true).",
)(trust.kms_key_scoped)


@rule(
    "hugging-face-needs-network",
    "model",
    "A huggingFaceId source without s3Uri needs networkIsolation: false (the container "
    "downloads it).",
)
def _hf_network(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    src = m.model_spec.source
    if (
        src.hugging_face_id
        and not src.s3_uri
        and env.doc.environment_spec.security.network_isolation
    ):
        yield m.source.diagnostic(
            ("spec", "source", "huggingFaceId"),
            f"environment '{env.name}' isolates containers from the network, so the model "
            "cannot be downloaded from the Hugging Face Hub",
            value=m.model_spec.source.hugging_face_id,
            fix="add source.s3Uri and copy the weights there (`llmdeploy stage` does), or set "
            "spec.security.networkIsolation: false in the environment",
        )


@rule(
    "source-required",
    "model",
    "source has s3Uri (loaded from there) or huggingFaceId (downloaded), or both (s3Uri is "
    "loaded; `llmdeploy stage` copies huggingFaceId's weights there).",
)
def _source_required(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    src = m.model_spec.source
    if not src.s3_uri and not src.hugging_face_id:
        yield m.source.diagnostic(
            ("spec", "source"),
            "the model has no weights source",
            key=True,
            fix="set source.s3Uri: s3://<bucket>/<prefix>/ (or huggingFaceId)",
        )


@rule("model-name-length", "model", "<stackPrefix>-<model> fits SageMaker's 63 characters.")
def _model_name_length(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    full = f"{env.doc.spec.stack_prefix}-{m.name}"
    if len(full) > NAME_LIMIT:
        yield m.source.diagnostic(
            ("metadata", "name"),
            f"the inference component name '{full}' is {len(full)} characters; the limit is "
            f"{NAME_LIMIT}",
            value=m.name,
            fix=f"shorten the name to {NAME_LIMIT - len(env.doc.spec.stack_prefix) - 1} "
            "characters or fewer",
        )


@rule(
    "names-disjoint",
    "model",
    "A model is not named like an endpoint of its environment (their SageMaker names would "
    "collide).",
)
def _names_disjoint(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    if env.doc.spec.endpoint(m.name) is not None:
        prefix = env.doc.spec.stack_prefix
        yield m.source.diagnostic(
            ("metadata", "name"),
            f"environment '{env.name}' has an endpoint '{m.name}' too: the model's SageMaker "
            f"names ({prefix}-{m.name}, its alarms, a dedicated endpoint) would collide with it",
            value=m.name,
            fix="rename the model or the endpoint",
        )


@rule(
    "overrides-name-environments", "model", "spec.environments only names environments that exist."
)
def _override_envs(m: ResolvedModel, env: ResolvedEnvironment, known: list[str]):
    for name in m.model_spec.environments:
        if name not in known:
            # A warning: checking models against some environments only (infra/prod.yaml
            # alone) is legitimate; a misspelt name still shows, with its correction.
            d = m.source.diagnostic(
                ("spec", "environments", name),
                f"no environment '{name}' among the given specs; these overrides are not "
                "checked and apply nowhere",
                key=True,
                fix=suggest(name, known, "environments"),
            )
            yield dataclasses.replace(d, environment="", severity="warning")


@rule("batch-within-queue", "model", "jobQueueSize is at least maxRollingBatchSize.")
def _batch_queue(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    lmi = m.model_spec.lmi
    if (
        lmi.job_queue_size is not None
        and lmi.max_rolling_batch_size is not None
        and lmi.job_queue_size < lmi.max_rolling_batch_size
    ):
        d = m.source.diagnostic(
            ("spec", "lmi", "jobQueueSize"),
            f"the queue ({lmi.job_queue_size}) is smaller than one batch "
            f"({lmi.max_rolling_batch_size}): the batch can never fill",
            value=lmi.job_queue_size,
            fix=f"set jobQueueSize to at least {lmi.max_rolling_batch_size}",
        )
        yield _warning(d)


# --- SLOs (docs/slo.md) -----------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:g} ms"


@rule(
    "slo-within-rollback-alarm",
    "model",
    "An SLO is not stricter than the rollout's rollback alarm (warning): a new version that "
    "breaks the SLO but not the alarm is kept.",
)
def _slo_within_rollback(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    slo, alarm = m.model_spec.slo, m.model_spec.rollout.rollback_on
    if slo is None:
        return
    # The alarm is what rolls a rolling update back; the SLO is what `bench` judges. When the
    # alarm is the looser of the two, a version that breaks the SLO finishes its rollout and
    # stays: the alarm never fires. (The other way round is only cautious.) The alarm sees
    # less than a caller does, too: ModelLatency is the time inside the container, without
    # SageMaker's overhead or the network, and it counts 5XX responses only.
    if (
        slo.p95_latency_ms is not None
        and alarm.p95_latency_ms is not None
        and slo.p95_latency_ms < alarm.p95_latency_ms
    ):
        d = m.source.diagnostic(
            ("spec", "rollout", "rollbackOn", "p95LatencyMs"),
            f"the SLO asks for p95 latency ≤ {_ms(slo.p95_latency_ms)} but a rollout rolls "
            f"back only above {_ms(alarm.p95_latency_ms)} (p95 ModelLatency): a new version "
            "answering in between breaks the SLO and is kept",
            value=alarm.p95_latency_ms,
            fix=f"set rollbackOn.p95LatencyMs: {int(slo.p95_latency_ms)} or less (the alarm "
            "sees only the time inside the container: leave room for SageMaker's overhead), "
            "or relax slo.p95LatencyMs",
        )
        yield _warning(d)
    if (
        slo.error_rate_percent is not None
        and alarm.error_rate_percent is not None
        and slo.error_rate_percent < alarm.error_rate_percent
    ):
        d = m.source.diagnostic(
            ("spec", "rollout", "rollbackOn", "errorRatePercent"),
            f"the SLO allows {slo.error_rate_percent:g}% failed requests but a rollout rolls "
            f"back only at {alarm.error_rate_percent:g}% 5XX responses: a new version failing "
            "in between breaks the SLO and is kept",
            value=alarm.error_rate_percent,
            fix=f"set rollbackOn.errorRatePercent: {slo.error_rate_percent:g} or less, or "
            "relax slo.errorRatePercent",
        )
        yield _warning(d)


@rule(
    "slo-concurrency-within-capacity",
    "model",
    "slo.atConcurrency is at most what the model generates at once at its peak "
    "(copies.max × maxRollingBatchSize; a warning).",
)
def _slo_concurrency(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    slo, batch = spec.slo, spec.lmi.max_rolling_batch_size
    if slo is None or batch is None:
        return
    if spec.dedicated is not None:
        # LMI starts one worker per tensor-parallel group of a dedicated instance's devices.
        devices, tp = m.devices_per_copy, m.devices_per_replica
        if devices is None or not tp:
            return
        units, replicas = spec.dedicated.instances.max, max(1, devices // tp)
        field, unit = "dedicated.instances.max", f"instance ({replicas} replica(s))"
    elif spec.copies is not None:
        units, replicas, field, unit = spec.copies.max, 1, "copies.max", "copy"
    else:
        return
    most = units * replicas * batch
    if slo.at_concurrency <= most:
        return
    d = m.source.diagnostic(
        ("spec", "slo", "atConcurrency"),
        f"at its peak ({field} {units}) the model generates at most {most} answers at once "
        f"(maxRollingBatchSize {batch} per {unit}); at {slo.at_concurrency} concurrent "
        "requests the rest wait in LMI's queue, and the wait counts in their time to first "
        "token and latency",
        value=slo.at_concurrency,
        fix=f"lower atConcurrency to {most}, or raise {field} to "
        f"{-(-slo.at_concurrency // (replicas * batch))} or lmi.maxRollingBatchSize to "
        f"{-(-slo.at_concurrency // (units * replicas))}",
    )
    yield _warning(d)


@rule(
    "slo-scale-to-zero",
    "model",
    "A model with an SLO that scales to zero copies warns: requests that find no copy are "
    "refused for the minutes a copy takes to start.",
)
def _slo_scale_to_zero(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    spec = m.model_spec
    if spec.slo is None or spec.copies is None or spec.copies.min != 0 or spec.dedicated:
        return
    # SageMaker does not hold such a request until a copy is up: it answers "no capacity"
    # (NoCapacityInvocationFailures, which wakes the model). The copy then needs the scaling
    # alarm (a minute), maybe an instance, and the weights' loading (docs/slo.md).
    figures = [
        f"{name} {_ms(value)}"
        for name, value in (("ttftMs", spec.slo.ttft_ms), ("p95LatencyMs", spec.slo.p95_latency_ms))
        if value is not None
    ]
    held = f" ({', '.join(figures)})" if figures else ""
    size = spec.size_billions
    weights = f"{size:g}B parameters" if size else "the weights"
    d = m.source.diagnostic(
        ("spec", "copies", "min"),
        f"the model may scale to zero copies: after an idle spell, requests are refused with a "
        f"no-capacity error until a copy has started (minutes: the wake-up alarm, maybe an "
        f"instance, loading {weights}); they count as failed, and no latency figure of the "
        f"SLO{held} holds for them",
        value=0,
        fix="set copies.min: 1 where the SLO must hold at any time (e.g. only in prod, under "
        "spec.environments), or accept cold starts and bench a warm model",
    )
    yield _warning(d)


@rule(
    "slo-figures-consistent",
    "model",
    "slo.ttftMs and slo.tpotMs are below slo.p95LatencyMs (a warning: each is part of a whole "
    "answer's latency).",
)
def _slo_consistent(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    slo = m.model_spec.slo
    if slo is None or slo.p95_latency_ms is None:
        return
    # A whole answer takes at least its first token, and an answer of two tokens or more at
    # least one gap between tokens: median TTFT ≤ median latency ≤ p95 latency (the same for
    # TPOT). A figure at or above p95LatencyMs can never be the one that fails; it is most
    # likely a slip (seconds for milliseconds, fields swapped).
    for key, value in (("ttftMs", slo.ttft_ms), ("tpotMs", slo.tpot_ms)):
        if value is not None and value >= slo.p95_latency_ms:
            d = m.source.diagnostic(
                ("spec", "slo", key),
                f"is not below p95LatencyMs ({_ms(slo.p95_latency_ms)}), which includes it: "
                f"any answer within the latency SLO already meets this figure",
                value=value,
                fix=f"check the units (milliseconds) and set {key} below "
                f"{_ms(slo.p95_latency_ms)}, or raise p95LatencyMs",
            )
            yield _warning(d)


# --- endpoint capacity ------------------------------------------------------------------------


@rule(
    "endpoint-capacity",
    "endpoint",
    "instances.max of an endpoint holds every model's minimum copies (and, as warnings, the "
    "initial and the peak copies).",
)
def _capacity(env: ResolvedEnvironment) -> Iterator[Diagnostic]:
    for i, ep in enumerate(env.doc.environment_spec.endpoints):
        fitted = _fit(env, i)
        if fitted is None:
            continue
        models = env.models_on(ep.name)
        for point, severity in (("min", "error"), ("initial", "warning"), ("max", "warning")):
            packing = fitted.points[point].packing
            needed = packing.instances if packing else 0
            if needed <= ep.instances.max:
                continue
            who = ", ".join(
                f"{m.name} ×{getattr(m.model_spec.copies, point)}"
                for m in models
                if m.model_spec.copies and getattr(m.model_spec.copies, point)
            )
            what = {"min": "minimum", "initial": "initial", "max": "peak (copies.max)"}[point]
            yield env.doc.source.diagnostic(
                ("spec", "endpoints", i, "instances", "max"),
                f"endpoint '{ep.name}' needs {needed} × {ep.instance_type} for the models' "
                f"{what} copies ({who}) but may grow to only {ep.instances.max}"
                + ("" if packing and packing.optimal else " (a heuristic packing: maybe fewer)")
                + (
                    "; past it, scale-out is refused (`llmdeploy plan` shows the same numbers)"
                    if point == "max"
                    else ""
                ),
                value=ep.instances.max,
                severity=severity,
                fix=f"set instances.max: {needed} or more, lower those models' copies.{point}, "
                "or move a model to another endpoint",
            )
            break  # the later points cannot fit either: one finding is enough


@rule(
    "rollout-update-headroom",
    "endpoint",
    "instances.max holds every model's minimum copies plus the largest rolling-update batch.",
)
def _update_headroom(env: ResolvedEnvironment) -> Iterator[Diagnostic]:
    for i, ep in enumerate(env.doc.environment_spec.endpoints):
        fitted = _fit(env, i)
        base = fitted.points["min"].packing if fitted else None
        if fitted is None or base is None or base.instances > ep.instances.max:
            continue  # endpoint-capacity already says the minimum copies do not fit
        update = fitted.update
        needed = update.packing.instances if update.packing else 0
        if needed <= ep.instances.max or update.model is None:
            continue
        n = update.batch
        batch = (
            "1 new copy up before the old one goes"
            if n == 1
            else (f"{n} new copies up before the old ones go")
        )
        yield env.doc.source.diagnostic(
            ("spec", "endpoints", i, "instances", "max"),
            f"a rolling update of {update.model} brings {batch}: with every model at "
            f"copies.min that needs {needed} × {ep.instance_type}, but endpoint '{ep.name}' "
            f"may grow to only {ep.instances.max}, so the update cannot start",
            value=ep.instances.max,
            fix=f"set instances.max: {needed} or more"
            + (f", or lower {update.model}'s rollout.batchCopies" if n > 1 else "")
            + ", or lower the models' copies.min",
        )


def _fit(env: ResolvedEnvironment, index: int):
    """The endpoint's packings as `plan` computes them, when every copy can be placed (else
    copy-fits-instance and instance-type-known already said why)."""
    ep = env.doc.environment_spec.endpoints[index]
    inst = instances.get(ep.instance_type)
    models = [m for m in env.models_on(ep.name) if m.demand and m.model_spec.copies]
    if inst is None or not models or not all(m.demand.fits(inst) for m in models):
        return None
    return shared_fit(env, index)


def summaries() -> list[dict[str, Any]]:
    return [{"id": r.id, "scope": r.scope, "summary": r.summary} for r in RULES.values()]


# Rules of their own topic, in modules of their own; importing them registers them.
from llmdeploy.plan import adapter_rules, schedule_rules, traffic_rules  # noqa: E402, F401
