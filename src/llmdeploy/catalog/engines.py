"""Serving engines: which hardware each runs on, the LMI settings each understands, and how
those settings become container environment variables.

Sources: deepjavalibrary/djl-serving serving/docs/lmi/deployment_guide/configurations.md
(naming: `option.x` → `OPTION_X`, server keys → `SERVING_X`, so job_queue_size is
SERVING_JOB_QUEUE_SIZE), user_guides/vllm_user_guide.md (runtime quantization in vLLM is only
fp8 and bitsandbytes; AWQ/GPTQ checkpoints are pre-quantized and must not get OPTION_QUANTIZE),
breaking_changes.md (lmi-dist removed in LMI v15 = 0.33.0), tnx_user_guide.md @0.33.0-dlc
(Transformers-NeuronX: entry point, static_int8, n_positions). Summarised with sources in
shared/reference/domain.md §4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmdeploy.catalog import images

# SageMaker: an inference component's container takes at most 16 environment variables.
MAX_ENV_VARS = 16

# --- SageMaker's bounds on updates (docs/rollouts.md has every source) ----------------------
#
# A rolling update of an inference component replaces a batch of copies at a time, each batch
# "between 5% to 50% of the copy count" (botocore InferenceComponentRollingUpdatePolicy.
# MaximumBatchSize). The copy count at update time is whatever autoscaling set, so llmdeploy
# states the batch as CAPACITY_PERCENT (in bounds at every count) sized so that at copies.max
# it is `rollout.batchCopies` copies; the rollback batch is the same share.
ROLLING_BATCH_PERCENT = (5, 50)
# Blue/green traffic shifting of an endpoint: a canary is "less than or equal to 50% of the
# variant's total instance count", a linear step "10-50%" (botocore TrafficRoutingConfig). A
# fleet that can be one instance has no such step: it takes at least two.
CANARY_MAX_PERCENT = 50
LINEAR_STEP_PERCENT = (10, 50)
TRAFFIC_SHIFTING_MIN_INSTANCES = 2


def rolling_batch_limits(max_copies: int) -> tuple[int, int]:
    """The fewest and most copies a batch may hold at ``max_copies`` copies (5% and 50%, but
    never below one copy: the smallest batch SageMaker can move)."""
    low, high = ROLLING_BATCH_PERCENT
    return max(1, -(-max_copies * low // 100)), max(1, max_copies * high // 100)


def rolling_batch_percent(batch_copies: int, max_copies: int) -> int:
    """MaximumBatchSize as CAPACITY_PERCENT: ``batch_copies`` as a share of copies.max, within
    SageMaker's 5-50%."""
    low, high = ROLLING_BATCH_PERCENT
    return min(high, max(low, 100 * batch_copies // max(1, max_copies)))


def rolling_batch_copies(batch_copies: int, max_copies: int) -> int:
    """The most copies one batch brings up: the percentage of copies.max, rounded up (how
    SageMaker rounds a share to whole copies is not documented; up is the cautious guess)."""
    share = rolling_batch_percent(batch_copies, max_copies) * max(1, max_copies)
    return max(1, -(-share // 100))


# --- Loading the weights: where they are and how long it may take --------------------------
#
# One place for the timeouts, because two programs keep one each and they must agree:
#
# - LMI gives up loading a model after `option.model_loading_timeout` seconds, 1800 by default,
#   and asks that on SageMaker the startup health check be "at least model loading timeout"
#   (djl-serving serving/docs/lmi/deployment_guide/configurations.md).
# - SageMaker waits ContainerStartupHealthCheckTimeoutInSeconds for the container's first
#   health check, and ModelDataDownloadTimeoutInSeconds for the weights: each 60 to 3600 s
#   (botocore sagemaker/2017-07-24/service-2.json, shapes
#   ProductionVariantContainerStartupHealthCheckTimeoutInSeconds and
#   ProductionVariantModelDataDownloadTimeoutInSeconds; cfn-lint's
#   AWS::SageMaker::InferenceComponent schema, StartupParameterTimeoutInSeconds).
#
# llmdeploy sets both: the startup timeout from the model's size, and LMI's loading timeout
# equal to it (LMI's never shorter than SageMaker's, and SageMaker's at least LMI's), unless
# extraEnv sets OPTION_MODEL_LOADING_TIMEOUT, which then raises the startup timeout with it.
LMI_MODEL_LOADING_TIMEOUT = 1800  # djl-serving configurations.md, option.model_loading_timeout
STARTUP_TIMEOUT_MIN, STARTUP_TIMEOUT_MAX = 60, 3600  # botocore, see above
# llmdeploy's own allowance (no source gives one): downloading and loading grow with the
# weights; above 30B parameters a model gets 20 s more per billion than LMI's default.
STARTUP_BASE_BILLIONS = 30
STARTUP_SECONDS_PER_BILLION = 20
LOADING_TIMEOUT_ENV = "OPTION_MODEL_LOADING_TIMEOUT"
# Weights from S3 (a ModelDataSource prefix, or a .tar.gz) are placed in /opt/ml/model, and LMI
# asks for OPTION_MODEL_ID=/opt/ml/model with uncompressed artifacts (djl-serving
# serving/docs/lmi/deployment_guide/deploying-your-endpoint.md, "Using ModelDataSource to deploy
# uncompressed model artifacts"; SageMaker: API_S3ModelDataSource, "relative to /opt/ml/model").
MODEL_ID_ENV = "OPTION_MODEL_ID"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class Engine:
    name: str
    framework: str  # the SageMaker SDK's image table
    accelerator: str  # "gpu" | "neuron"
    default_version: str
    rolling_batches: tuple[str, ...]
    quantizations: tuple[str, ...]
    # Quantizations the engine applies while loading (everything else is a pre-quantized
    # checkpoint the engine detects by itself, so OPTION_QUANTIZE must not be set for it).
    runtime_quantizations: tuple[str, ...]
    entrypoint: str | None = None
    max_len_env: str = "OPTION_MAX_MODEL_LEN"

    @property
    def versions(self) -> list[str]:
        return images.versions(self.framework)

    def image_uri(self, version: str, region: str) -> str | None:
        return images.uri(self.framework, version, region)


ENGINES: dict[str, Engine] = {
    "djl-lmi": Engine(
        name="djl-lmi",
        framework="djl-lmi",
        accelerator="gpu",
        # Pinned per llmdeploy release, not the SDK's moving "latest": upgrading the SDK must
        # never change the image of a running model behind the user's back.
        default_version="0.33.0",
        rolling_batches=("auto", "vllm", "lmi-dist", "trtllm", "disable"),
        quantizations=("none", "awq", "gptq", "fp8", "bitsandbytes"),
        runtime_quantizations=("fp8", "bitsandbytes"),
    ),
    "djl-neuronx": Engine(
        name="djl-neuronx",
        framework="djl-neuronx",
        accelerator="neuron",
        default_version="0.29.0",
        rolling_batches=("auto", "disable"),
        quantizations=("none", "static_int8"),
        runtime_quantizations=("static_int8",),
        entrypoint="djl_python.transformers_neuronx",
        max_len_env="OPTION_N_POSITIONS",
    ),
}

# LMI 0.33.0 (LMI v15) removed the lmi-dist rolling batch backend.
LMI_DIST_REMOVED_IN = "0.33.0"

# Bytes per parameter of the weights once loaded (djl-serving instance-type-selection.md:
# fp16/bf16 2, fp32 4, int8/fp8 1; 4-bit AWQ/GPTQ and bitsandbytes' default NF4 0.5).
BYTES_PER_PARAMETER = {
    "awq": 0.5,
    "gptq": 0.5,
    "bitsandbytes": 0.5,
    "fp8": 1.0,
    "smoothquant": 1.0,
    "static_int8": 1.0,
}
BYTES_PER_DTYPE = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "auto": 2.0, None: 2.0}

# How each typed LMI setting is named in the container's environment.
SETTING_ENV = {
    "rollingBatch": "OPTION_ROLLING_BATCH",
    "maxRollingBatchSize": "OPTION_MAX_ROLLING_BATCH_SIZE",
    "jobQueueSize": "SERVING_JOB_QUEUE_SIZE",
    "tensorParallelDegree": "OPTION_TENSOR_PARALLEL_DEGREE",
    "quantization": "OPTION_QUANTIZE",
    "dtype": "OPTION_DTYPE",
}

# Names users might put in extraEnv that would fight a typed setting (the simplified aliases
# the container translates, too: dockerd-entrypoint-with-cuda-compat.sh).
ENV_ALIASES = {
    "TENSOR_PARALLEL_DEGREE": "tensorParallelDegree",
    "SM_NUM_GPUS": "tensorParallelDegree",
    "MAX_BATCH_SIZE": "maxRollingBatchSize",
    "MAX_CONCURRENT_REQUESTS": "jobQueueSize",
    "HF_MODEL_QUANTIZE": "quantization",
    "HF_MODEL_ID": "source",
    "OPTION_MODEL_ID": "source",
    "OPTION_QUANTIZATION": "quantization",
    "OPTION_N_POSITIONS": "maxModelLen",
    "OPTION_MAX_MODEL_LEN": "maxModelLen",
    "OPTION_ENTRYPOINT": "container.engine",
    **{env: setting for setting, env in SETTING_ENV.items()},
}


def weight_bytes_per_parameter(quantization: str, dtype: str | None) -> float:
    return BYTES_PER_PARAMETER.get(quantization, BYTES_PER_DTYPE[dtype])


def user_loading_timeout(extra_env: Mapping[str, str]) -> int | None:
    """OPTION_MODEL_LOADING_TIMEOUT as the container's extra environment sets it, in seconds
    (None: unset, or not a whole number, which `rules` refuses)."""
    raw = extra_env.get(LOADING_TIMEOUT_ENV)
    # ASCII digits only: str.isdigit() accepts '１８００', which LMI could not parse.
    text = raw.strip() if raw is not None else ""
    return int(text) if text and text.isascii() and text.isdigit() else None


def startup_timeout_seconds(size_billions: float | None, user_timeout: int | None = None) -> int:
    """SageMaker's startup timeouts (the weights' download, and the container's first health
    check, each): LMI's 1800 s plus 20 s per billion parameters above 30B (30B where the size is
    not given), or the user's OPTION_MODEL_LOADING_TIMEOUT if longer, within 60..3600 s."""
    size = size_billions or STARTUP_BASE_BILLIONS
    derived = LMI_MODEL_LOADING_TIMEOUT + max(0, size - STARTUP_BASE_BILLIONS) * (
        STARTUP_SECONDS_PER_BILLION
    )
    wanted = max(derived, user_timeout or 0)
    return int(min(STARTUP_TIMEOUT_MAX, max(STARTUP_TIMEOUT_MIN, wanted)))
