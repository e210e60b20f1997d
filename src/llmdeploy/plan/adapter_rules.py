"""Rules about LoRA adapters (registered into `llmdeploy.plan.rules.RULES` on import).

An adapter (`spec.adapterOf: BASE`) is an inference component with BaseInferenceComponentName
and the adapter's weights in Container.ArtifactUrl: it runs on its base's copies and takes no
compute of its own (botocore `sagemaker` InferenceComponentSpecification). docs/adapters.md
has every source; where the sources are silent, the choice made is said there and here.
"""

from __future__ import annotations

from llmdeploy import grants
from llmdeploy.plan.resolve import (
    LORA_ENV,
    MAX_LORA_RANK_ENV,
    MAX_LORAS_ENV,
    ResolvedEnvironment,
    ResolvedModel,
)
from llmdeploy.plan.rules import _warning, rule
from llmdeploy.spec.diagnose import suggest

# LMI documents LoRA adapters for its vLLM and lmi-dist rolling batch backends only
# (djl-serving vllm_user_guide.md and lmi-dist_user_guide.md, "LoRA Adapter Support"); `auto`
# picks one of them on djl-lmi. TensorRT-LLM and Transformers-NeuronX document none.
LORA_ROLLING_BATCHES = (None, "auto", "vllm", "lmi-dist")
# vLLM's LoRAConfig accepts these max_lora_rank values (8-256 since vLLM 0.5; 320 and 512
# only in later releases than some LMI images ship: a warning there).
LORA_RANKS = (8, 16, 32, 64, 128, 256)
LORA_RANKS_NEWER = (320, 512)
# Checkpoints vLLM's own example serves LoRA on (examples/lora_with_quantization_inference.py:
# AWQ and GPTQ; bitsandbytes only with the adapter given at load time, as QLoRA).
LORA_QUANTIZATIONS = ("none", "awq", "gptq")
# What an adapter takes from its base rather than stating: the placement and everything
# about copies and the container's settings.
_NOT_ON_ADAPTERS = {
    "endpoint": "it runs on its base's endpoint",
    "dedicated": "it runs on its base's copies, never on an endpoint of its own",
    "resources": "it uses the compute of its base's copies (SageMaker takes no "
    "ComputeResourceRequirements for an adapter)",
    "copies": "it is loaded into every copy of its base; it has no copies of its own",
    "autoscaling": "it has no copies to scale: its base's autoscaling decides",
    "lmi": "the base's container serves it, with the base's LMI settings",
    "rollout": "it has no copies to roll: a new version of the adapter replaces it at once",
}


def _base(m: ResolvedModel) -> ResolvedModel | None:
    return m.base if m.adapter else None


# --- the adapter -------------------------------------------------------------------------------


@rule(
    "adapter-base-exists",
    "model",
    "spec.adapterOf names a Model of the same environment.",
)
def _base_exists(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    if not m.adapter or m.base is not None:
        return
    name = m.model_spec.adapter_of
    others = [o.name for o in env.models if o.name != m.name and not o.adapter]
    yield m.source.diagnostic(
        ("spec", "adapterOf"),
        f"environment '{env.name}' has no model '{name}' to be the adapter's base (an adapter "
        "runs on its base's copies, in the same environment)",
        value=name,
        fix=suggest(name, others, "its models") if others else "add the base model's spec",
    )


@rule(
    "adapter-base-shared",
    "model",
    "An adapter's base is a model on a shared endpoint: not dedicated, not an adapter itself.",
)
def _base_shared(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    base = _base(m)
    if base is None:
        return
    if base.name == m.name:
        why = "a model cannot be its own base"
    elif base.adapter:
        why = (
            f"'{base.name}' is an adapter itself (of '{base.model_spec.adapter_of}'); "
            "SageMaker loads an adapter into a base inference component that holds a model"
        )
    elif base.dedicated:
        why = (
            f"'{base.name}' runs on a dedicated endpoint, which hosts no inference components; "
            "an adapter is an inference component on its base's"
        )
    else:
        return
    yield m.source.diagnostic(
        ("spec", "adapterOf"),
        why,
        value=m.model_spec.adapter_of,
        fix="name a model on a shared endpoint (spec.endpoint), or move the base to one",
    )


@rule(
    "adapter-no-placement",
    "model",
    "An adapter states no endpoint, dedicated, resources, copies, autoscaling, lmi or rollout "
    "of its own.",
)
def _no_placement(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    if not m.adapter:
        return
    given = m.model_spec.model_fields_set
    for field, why in _NOT_ON_ADAPTERS.items():
        if field in given:
            yield m.source.diagnostic(
                ("spec", field),
                f"an adapter takes no spec.{field}: {why}",
                key=True,
                fix=f"remove spec.{field}"
                + (
                    f" (set it on the base '{m.model_spec.adapter_of}')"
                    if field in ("lmi", "autoscaling", "copies")
                    else ""
                ),
            )


@rule(
    "adapter-weights-in-s3",
    "model",
    "An adapter's weights are one .tar.gz in S3 (source.s3Uri; a folder warns), never a "
    "huggingFaceId: SageMaker fetches Container.ArtifactUrl itself.",
)
def _weights_in_s3(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    if not m.adapter:
        return
    src = m.model_spec.source
    if src.hugging_face_id and not src.s3_uri:
        yield m.source.diagnostic(
            ("spec", "source", "huggingFaceId"),
            "an adapter's weights are given to SageMaker as an S3 artifact "
            "(Container.ArtifactUrl); the base's container does not download them",
            value=src.hugging_face_id,
            fix="pack the adapter (adapter_config.json, adapter_model.safetensors) as a .tar.gz, "
            "upload it and set source.s3Uri: s3://<bucket>/<prefix>/adapter.tar.gz",
        )
    elif src.s3_uri and not src.s3_uri.endswith(grants.TARBALL_SUFFIX):
        # The API reference: ArtifactUrl "must point to a single gzip compressed tar archive";
        # AWS's 2025 review of SageMaker shows an adapter registered from a folder (dynamic
        # adapter loading). The reference is the contract: a folder only warns.
        d = m.source.diagnostic(
            ("spec", "source", "s3Uri"),
            "SageMaker's API reference asks for an adapter artifact that is a single .tar.gz "
            "(ArtifactUrl); a folder works only where SageMaker loads adapters dynamically",
            value=src.s3_uri,
            fix="pack the adapter's files into adapter.tar.gz (at the archive's root) and point "
            "source.s3Uri at it",
        )
        yield _warning(d)


@rule(
    "adapter-container-matches-base",
    "model",
    "An adapter's container is its base's (engine, version, image): the base's container "
    "serves it.",
)
def _container_matches(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    base = _base(m)
    if base is None or base.adapter or base.name == m.name:
        return
    mine = (m.engine.name, m.version, m.image)
    theirs = (base.engine.name, base.version, base.image)
    if mine == theirs:
        return
    c = base.model_spec.container
    fields = [f"engine: {c.engine}"]
    if c.version or base.version:
        fields.append(f'version: "{c.version or base.version}"')
    if c.image:
        fields.append(f"image: {c.image}")
    yield m.source.diagnostic(
        ("spec", "container"),
        f"the adapter would run in {m.engine.name} {m.version or m.image}, but its base "
        f"'{base.name}' serves it from {base.engine.name} {base.version or base.image}",
        key=True,
        fix=f"set container: {{{', '.join(fields)}}} (the base's)",
    )


@rule(
    "adapter-base-supports-lora",
    "model",
    "An adapter's base serves LoRA: djl-lmi with rollingBatch vllm, lmi-dist or auto (LMI "
    "documents adapters for those only); AWQ/GPTQ or unquantized weights (others warn).",
)
def _base_supports_lora(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    base = _base(m)
    if base is None or base.adapter or base.dedicated:
        return
    lmi = base.model_spec.lmi
    if base.engine.accelerator != "gpu" or lmi.rolling_batch not in LORA_ROLLING_BATCHES:
        backend = (
            base.engine.name
            if base.engine.accelerator != "gpu"
            else f"rollingBatch {lmi.rolling_batch}"
        )
        yield m.source.diagnostic(
            ("spec", "adapterOf"),
            f"the base '{base.name}' runs {backend}, for which LMI documents no LoRA "
            "adapters (only djl-lmi with vllm or lmi-dist)",
            value=m.model_spec.adapter_of,
            fix=f"serve '{base.name}' with rollingBatch: vllm on djl-lmi, or merge the adapter "
            "into a model of its own",
        )
    elif lmi.quantization not in LORA_QUANTIZATIONS:
        d = m.source.diagnostic(
            ("spec", "adapterOf"),
            f"the base '{base.name}' is quantized with {lmi.quantization}; vLLM's example "
            "serves adapters on AWQ and GPTQ checkpoints only (bitsandbytes as QLoRA, with one "
            "adapter fixed at load time)",
            value=m.model_spec.adapter_of,
            fix="test the adapter on this base before relying on it, or use an AWQ/GPTQ or "
            "unquantized base",
        )
        yield _warning(d)


@rule(
    "adapter-base-scales-to-zero",
    "model",
    "An adapter whose base may scale to zero copies warns: the adapter is unavailable while "
    "the base has none, and its requests do not wake the base.",
)
def _base_zero(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    base = _base(m)
    if base is None or base.adapter or base.model_spec.copies is None:
        return
    if base.model_spec.copies.min != 0:
        return
    # The wake-from-zero alarm watches the base component's NoCapacityInvocationFailures;
    # a refused request to the adapter is the adapter component's (SageMaker's metrics are
    # per InferenceComponentName). That it counts there is inferred, not documented.
    d = m.source.diagnostic(
        ("spec", "adapterOf"),
        f"the base '{base.name}' may scale to zero copies (copies.min: 0); then the adapter "
        "has no copy to run on, and requests to it are refused without waking the base (its "
        "wake-up alarm watches the base's own refused requests)",
        value=m.model_spec.adapter_of,
        fix=f"set copies.min: 1 on '{base.name}' where the adapter must answer at any time, "
        "or accept that the adapter is served only while the base is awake",
    )
    yield _warning(d)


# --- the base ----------------------------------------------------------------------------------


@rule(
    "lora-rank-supported",
    "model",
    "lmi.maxLoraRank is a rank vLLM accepts (8, 16, 32, 64, 128, 256; 320 and 512 warn).",
)
def _rank(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    rank = m.model_spec.lmi.max_lora_rank
    if rank is None or rank in LORA_RANKS:
        return
    path = ("spec", "lmi", "maxLoraRank")
    if rank in LORA_RANKS_NEWER:
        d = m.source.diagnostic(
            path,
            f"vLLM accepts max_lora_rank {rank} only in releases newer than some LMI images "
            f"ship (older ones allow {', '.join(map(str, LORA_RANKS))})",
            value=rank,
            fix="check the image's vLLM version, or use maxLoraRank: 256",
        )
        yield _warning(d)
        return
    above = next((r for r in (*LORA_RANKS, *LORA_RANKS_NEWER) if r > rank), 512)
    yield m.source.diagnostic(
        path,
        f"vLLM refuses max_lora_rank {rank}: it must be one of "
        f"{', '.join(map(str, (*LORA_RANKS, *LORA_RANKS_NEWER)))}",
        value=rank,
        fix=f"set maxLoraRank: {above} (the next allowed rank at or above your adapters' largest)",
    )


@rule(
    "lora-settings-on-a-base",
    "model",
    "lmi.maxLoras and lmi.maxLoraRank belong to a model that serves adapters on a shared "
    "endpoint, and extraEnv does not set the LoRA variables they own.",
)
def _lora_settings(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    lmi = m.model_spec.lmi
    owned = {
        LORA_ENV: "adapters naming this model (spec.adapterOf)",
        MAX_LORAS_ENV: "lmi.maxLoras",
        MAX_LORA_RANK_ENV: "lmi.maxLoraRank",
    }
    for key in lmi.extra_env:
        if key.upper() in owned:
            yield m.source.diagnostic(
                ("spec", "lmi", "extraEnv", key),
                f"{key} is set by llmdeploy from {owned[key.upper()]}; two sources would disagree",
                key=True,
                fix=f"remove {key} from extraEnv"
                + (f" and set {owned[key.upper()]}" if key.upper() != LORA_ENV else ""),
            )
    if m.dedicated and (lmi.max_loras is not None or lmi.max_lora_rank is not None):
        field = "maxLoras" if lmi.max_loras is not None else "maxLoraRank"
        yield m.source.diagnostic(
            ("spec", "lmi", field),
            "adapters are inference components on a shared endpoint; a dedicated endpoint "
            "hosts none, so LoRA here would only take memory",
            key=True,
            fix=f"remove lmi.{field}, or move the model to a shared endpoint (spec.endpoint)",
        )


@rule(
    "lora-adapters-within-batch",
    "model",
    "lmi.maxLoras is at most maxRollingBatchSize (a batch cannot hold more adapters than "
    "requests; a warning).",
)
def _loras_within_batch(m: ResolvedModel, env: ResolvedEnvironment, _: list[str]):
    lmi = m.model_spec.lmi
    if lmi.max_loras is None or lmi.max_rolling_batch_size is None:
        return
    if lmi.max_loras <= lmi.max_rolling_batch_size:
        return
    d = m.source.diagnostic(
        ("spec", "lmi", "maxLoras"),
        f"a batch of {lmi.max_rolling_batch_size} requests uses at most "
        f"{lmi.max_rolling_batch_size} adapters; the GPU memory reserved for "
        f"{lmi.max_loras} is partly never used",
        value=lmi.max_loras,
        fix=f"set maxLoras: {lmi.max_rolling_batch_size} or less",
    )
    yield _warning(d)


def adapters_of(env: ResolvedEnvironment, base: str) -> list[ResolvedModel]:
    """The adapters that name ``base`` in the environment."""
    return [m for m in env.models if m.adapter and m.model_spec.adapter_of == base]


__all__ = ["LORA_RANKS", "LORA_ROLLING_BATCHES", "adapters_of"]
