"""The catalog: instance figures, the LMI environment mapping, image URIs, prices."""

from __future__ import annotations

import re

import pytest

from conftest import base_model, mutate
from llmdeploy.catalog import engines, images, instances, prices
from llmdeploy.plan.resolve import LmiSettings, container_environment, startup_timeout
from llmdeploy.spec.models import Model


def _model(**changes) -> Model:
    return Model.model_validate(_tupled(mutate(base_model(), **changes)))


def _tupled(value):
    # The loader turns YAML sequences into tuples; do the same for hand-built dicts.
    if isinstance(value, dict):
        return {k: _tupled(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


@pytest.mark.parametrize(
    ("name", "devices", "mib_per_device", "vcpus", "host_gib", "arch", "nvme"),
    [
        ("ml.p4d.24xlarge", 8, 40960, 96, 1152, "ampere", True),
        ("ml.p4de.24xlarge", 8, 81920, 96, 1152, "ampere", True),
        ("ml.p5.48xlarge", 8, 81920, 192, 2048, "hopper", True),
        ("ml.p5e.48xlarge", 8, 144384, 192, 2048, "hopper", True),
        ("ml.p5en.48xlarge", 8, 144384, 192, 2048, "hopper", True),
        ("ml.g5.12xlarge", 4, 22888, 48, 192, "ampere", True),
        ("ml.g6.xlarge", 1, 22888, 4, 16, "ada", True),
        ("ml.g6e.48xlarge", 8, 45776, 192, 1536, "ada", True),
        ("ml.inf2.48xlarge", 24, 16384, 192, 768, "inferentia2", False),
        ("ml.inf2.xlarge", 2, 16384, 4, 16, "inferentia2", False),
        ("ml.trn1.32xlarge", 32, 16384, 128, 512, "trainium", True),
    ],
)
def test_instance_figures(name, devices, mib_per_device, vcpus, host_gib, arch, nvme):
    it = instances.get(name)
    assert (it.devices, it.memory_mib_per_device, it.vcpus, it.memory_mib) == (
        devices,
        mib_per_device,
        vcpus,
        host_gib * 1024,
    )
    assert (it.architecture, it.local_nvme) == (arch, nvme)


def test_catalog_covers_the_families_the_design_names():
    families = {t.family for t in instances.all_types()}
    assert {"p4d", "p4de", "p5", "p5e", "p5en", "g5", "g6", "g6e", "inf2", "trn1"} <= families
    for fam in ("g5", "g6", "g6e"):
        sizes = {t.name.split(".")[2] for t in instances.all_types() if t.family == fam}
        assert {
            "xlarge",
            "2xlarge",
            "4xlarge",
            "8xlarge",
            "12xlarge",
            "16xlarge",
            "24xlarge",
            "48xlarge",
        } <= sizes


def test_fp8_only_on_ada_and_hopper():
    assert instances.get("ml.p5en.48xlarge").supports_fp8
    assert instances.get("ml.g6e.xlarge").supports_fp8
    assert not instances.get("ml.p4d.24xlarge").supports_fp8
    assert not instances.get("ml.g5.xlarge").supports_fp8


def test_lmi_settings_map_to_their_container_variables():
    m = _model(
        spec__lmi={
            "rollingBatch": "vllm",
            "maxRollingBatchSize": 64,
            "jobQueueSize": 1000,
            "tensorParallelDegree": 2,
            "quantization": "fp8",
            "maxModelLen": 8192,
            "dtype": "bf16",
            "extraEnv": {"OPTION_ENABLE_PREFIX_CACHING": "true"},
        },
        spec__resources__accelerators=2,
    )
    env = _environment(m.spec, engines.ENGINES["djl-lmi"], 2)
    assert env == {
        "OPTION_ROLLING_BATCH": "vllm",
        "OPTION_MAX_ROLLING_BATCH_SIZE": "64",
        "SERVING_JOB_QUEUE_SIZE": "1000",
        "OPTION_TENSOR_PARALLEL_DEGREE": "2",
        "OPTION_QUANTIZE": "fp8",
        "OPTION_MAX_MODEL_LEN": "8192",
        "OPTION_DTYPE": "bf16",
        "OPTION_ENABLE_PREFIX_CACHING": "true",
        # Weights from S3 are in /opt/ml/model, where LMI is told to load them from, and LMI
        # waits for them as long as SageMaker does (30B or less: LMI's own 1800 s).
        "OPTION_MODEL_ID": "/opt/ml/model",
        "OPTION_MODEL_LOADING_TIMEOUT": "1800",
    }


def _environment(spec, engine, devices: int) -> dict[str, str]:
    """The container environment as resolution builds it from a spec."""
    return container_environment(
        LmiSettings.of(spec),
        engine,
        devices,
        weights_in_s3=bool(spec.source.s3_uri),
        hugging_face_id=spec.source.hugging_face_id,
        startup_timeout_seconds=startup_timeout(spec),
    )


@pytest.mark.parametrize("quantization", ["awq", "gptq"])
def test_pre_quantized_checkpoints_get_no_option_quantize(quantization):
    m = _model(spec__lmi__quantization=quantization)
    env = _environment(m.spec, engines.ENGINES["djl-lmi"], 1)
    assert "OPTION_QUANTIZE" not in env


def test_tensor_parallel_defaults_to_the_devices_a_copy_sees():
    m = _model(spec__lmi__tensorParallelDegree=None)
    assert (
        _environment(m.spec, engines.ENGINES["djl-lmi"], 4)["OPTION_TENSOR_PARALLEL_DEGREE"] == "4"
    )


def test_neuron_engine_sets_its_entrypoint_and_sequence_length():
    m = _model(spec__container={"engine": "djl-neuronx"}, spec__lmi={"maxModelLen": 4096})
    env = _environment(m.spec, engines.ENGINES["djl-neuronx"], 8)
    assert env["OPTION_ENTRYPOINT"] == "djl_python.transformers_neuronx"
    assert env["OPTION_N_POSITIONS"] == "4096"


def test_hugging_face_source_becomes_hf_model_id():
    m = _model(spec__source={"huggingFaceId": "org/model"})
    assert _environment(m.spec, engines.ENGINES["djl-lmi"], 1)["HF_MODEL_ID"] == "org/model"


def test_weight_bytes_per_parameter():
    assert engines.weight_bytes_per_parameter("none", "bf16") == 2
    assert engines.weight_bytes_per_parameter("none", "fp32") == 4
    assert engines.weight_bytes_per_parameter("fp8", "bf16") == 1
    assert engines.weight_bytes_per_parameter("awq", "fp16") == 0.5


@pytest.mark.parametrize(
    ("framework", "version", "region"),
    [
        ("djl-lmi", "0.33.0", "us-east-1"),
        ("djl-lmi", "0.33.0", "eu-central-1"),
        ("djl-lmi", "0.31.0", "ap-southeast-3"),
        ("djl-lmi", "0.35.0", "cn-north-1"),
        ("djl-neuronx", "0.29.0", "us-west-2"),
    ],
)
def test_image_uris_match_the_sagemaker_sdk(framework, version, region):
    from sagemaker.core import image_uris

    expected = image_uris.retrieve(framework=framework, region=region, version=version)
    assert images.uri(framework, version, region) == expected


def test_image_uri_is_none_where_nothing_is_published():
    assert images.uri("djl-neuronx", "0.29.0", "ap-east-2") is None
    assert images.uri("djl-lmi", "9.9.9", "us-east-1") is None


def test_engine_default_versions_exist_in_the_sdk_tables():
    for engine in engines.ENGINES.values():
        assert engine.default_version in engine.versions
        assert engine.image_uri(engine.default_version, "us-east-1")


def test_every_price_has_a_source_and_a_date_and_names_a_known_type():
    known = prices.known()
    assert known, "the catalog has some prices"
    for name, price in known.items():
        assert instances.get(name) is not None, name
        assert price.usd_per_hour > 0
        assert price.source and re.match(r"^\d{4}-\d{2}-\d{2}$", price.date or ""), name


def test_unknown_price_is_none_and_overrides_win():
    unknown = next(t.name for t in instances.all_types() if t.name not in prices.known())
    assert prices.hourly(unknown) is None
    assert prices.hourly(unknown, {unknown: 3.0}).usd_per_hour == 3.0
    assert prices.hourly(unknown, {unknown: 3.0}).source == "environment spec.pricing"


@pytest.mark.parametrize("quantization", ["awq", "fp8", "smoothquant"])
def test_tensorrt_llm_gets_every_quantization_it_builds_with(quantization):
    m = _model(spec__lmi__rollingBatch="trtllm", spec__lmi__quantization=quantization)
    env = _environment(m.spec, engines.ENGINES["djl-lmi"], 1)
    assert env["OPTION_QUANTIZE"] == quantization


@pytest.mark.parametrize(
    ("size", "startup"),
    [(8, 1800), (None, 1800), (30, 1800), (70, 2600), (200, 3600)],
)
def test_startup_and_loading_timeouts_come_from_the_size_and_agree(size, startup):
    # LMI's 1800 s, plus 20 s per billion parameters above 30B, within SageMaker's 3600 s; LMI
    # gets the same figure, so neither gives up while the other still waits.
    m = _model(spec__sizeBillions=size)
    assert startup_timeout(m.spec) == startup
    env = _environment(m.spec, engines.ENGINES["djl-lmi"], 1)
    assert env["OPTION_MODEL_LOADING_TIMEOUT"] == str(startup)


def test_a_longer_loading_timeout_in_extra_env_raises_sagemakers_up_to_its_ceiling():
    m = _model(spec__lmi__extraEnv={"OPTION_MODEL_LOADING_TIMEOUT": "3000"})
    assert startup_timeout(m.spec) == 3000
    env = _environment(m.spec, engines.ENGINES["djl-lmi"], 1)
    assert env["OPTION_MODEL_LOADING_TIMEOUT"] == "3000"
    far = _model(spec__lmi__extraEnv={"OPTION_MODEL_LOADING_TIMEOUT": "7200"})
    assert startup_timeout(far.spec) == 3600


def test_a_loading_timeout_in_non_ascii_digits_is_not_a_number():
    # '３０００' passes str.isdigit(); LMI reads the variable as ASCII and could not parse it.
    m = _model(spec__lmi__extraEnv={"OPTION_MODEL_LOADING_TIMEOUT": "３０００"})
    assert engines.user_loading_timeout(m.spec.lmi.extra_env) is None
    assert startup_timeout(m.spec) == 1800


def test_hub_weights_get_no_model_dir():
    m = _model(spec__source={"huggingFaceId": "org/m"})
    env = _environment(m.spec, engines.ENGINES["djl-lmi"], 1)
    assert env["HF_MODEL_ID"] == "org/m" and "OPTION_MODEL_ID" not in env


@pytest.mark.parametrize(
    ("batch", "max_copies", "limits", "percent", "copies"),
    [
        (1, 1, (1, 1), 50, 1),  # one copy: the most SageMaker allows, 50%, rounds to 1 copy
        (1, 2, (1, 1), 50, 1),
        (1, 3, (1, 1), 33, 1),
        (1, 6, (1, 3), 16, 1),
        (3, 6, (1, 3), 50, 3),
        (1, 20, (1, 10), 5, 1),
        (1, 30, (2, 15), 5, 2),  # 5% of 30 copies is more than the one asked for
    ],
)
def test_rolling_batches_stay_within_5_to_50_percent(batch, max_copies, limits, percent, copies):
    assert engines.rolling_batch_limits(max_copies) == limits
    assert engines.rolling_batch_percent(batch, max_copies) == percent
    assert engines.rolling_batch_copies(batch, max_copies) == copies
