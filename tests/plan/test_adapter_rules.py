"""The adapter rules (docs/adapters.md): each refuses its case with a message a user can act
on, naming the file, line, field, bad value and fix. An adapter `a1` of the base model `m1`
(tests/conftest.py) is added to every case."""

from __future__ import annotations

import pytest

from conftest import base_environment, base_model, mutate

RULE_IDS = [
    "adapter-base-exists",
    "adapter-base-shared",
    "adapter-no-placement",
    "adapter-weights-in-s3",
    "adapter-container-matches-base",
    "adapter-base-supports-lora",
    "adapter-base-scales-to-zero",
    "lora-rank-supported",
    "lora-settings-on-a-base",
    "lora-adapters-within-batch",
]


def adapter(name: str = "a1", base: str = "m1") -> dict:
    return {
        "apiVersion": "llmdeploy/v1",
        "kind": "Model",
        "metadata": {"name": name, "version": 1, "owner": "team"},
        "spec": {
            "adapterOf": base,
            "source": {"s3Uri": f"s3://bucket/{name}/1/adapter.tar.gz"},
            "container": {"engine": "djl-lmi", "version": "0.33.0"},
        },
    }


# rule id, base changes, adapter changes, field path, words, text on the pointed line, severity
CASES = [
    (
        "adapter-base-exists",
        {},
        {"spec__adapterOf": "m2"},
        "spec.adapterOf",
        "environment 'prod' has no model 'm2' to be the adapter's base",
        "adapterOf: m2",
        "error",
    ),
    (
        "adapter-base-shared",
        {
            "spec__endpoint": None,
            "spec__resources": None,
            "spec__copies": None,
            "spec__autoscaling": None,
            "spec__dedicated": {
                "instanceType": "ml.g6e.12xlarge",
                "instances": {"min": 1, "initial": 1, "max": 1},
            },
        },
        {},
        "spec.adapterOf",
        "'m1' runs on a dedicated endpoint, which hosts no inference components",
        "adapterOf: m1",
        "error",
    ),
    (
        "adapter-no-placement",
        {},
        {"spec__copies": {"min": 1, "initial": 1, "max": 2}},
        "spec.copies",
        "an adapter takes no spec.copies: it is loaded into every copy of its base",
        "copies:",
        "error",
    ),
    (
        "adapter-weights-in-s3",
        {},
        {"spec__source": {"s3Uri": "s3://bucket/a1/1/"}},
        "spec.source.s3Uri",
        "SageMaker's API reference asks for an adapter artifact that is a single .tar.gz",
        "s3Uri: s3://bucket/a1/1/",
        "warning",
    ),
    (
        "adapter-container-matches-base",
        {},
        {"spec__container": {"engine": "djl-lmi", "version": "0.32.0"}},
        "spec.container",
        "the adapter would run in djl-lmi 0.32.0, but its base 'm1' serves it from djl-lmi 0.33.0",
        "container:",
        "error",
    ),
    (
        "adapter-base-supports-lora",
        {"spec__lmi__rollingBatch": "disable"},
        {},
        "spec.adapterOf",
        "the base 'm1' runs rollingBatch disable, for which LMI documents no LoRA adapters",
        "adapterOf: m1",
        "error",
    ),
    (
        "adapter-base-scales-to-zero",
        {"spec__copies": {"min": 0, "initial": 1, "max": 2}},
        {},
        "spec.adapterOf",
        "the base 'm1' may scale to zero copies (copies.min: 0); then the adapter has no copy",
        "adapterOf: m1",
        "warning",
    ),
    (
        "lora-rank-supported",
        {"spec__lmi__maxLoraRank": 48},
        {},
        "spec.lmi.maxLoraRank",
        "vLLM refuses max_lora_rank 48: it must be one of 8, 16, 32, 64",
        "maxLoraRank: 48",
        "error",
    ),
    (
        "lora-settings-on-a-base",
        {"spec__lmi__extraEnv": {"OPTION_MAX_LORAS": "8"}},
        {},
        "spec.lmi.extraEnv.OPTION_MAX_LORAS",
        "OPTION_MAX_LORAS is set by llmdeploy from lmi.maxLoras",
        "OPTION_MAX_LORAS",
        "error",
    ),
    (
        "lora-adapters-within-batch",
        {"spec__lmi__maxLoras": 16, "spec__lmi__maxRollingBatchSize": 8},
        {},
        "spec.lmi.maxLoras",
        "a batch of 8 requests uses at most 8 adapters",
        "maxLoras: 16",
        "warning",
    ),
]


def _findings(specs, base_changes, adapter_changes):
    specs.standard(
        base_environment(),
        mutate(base_model(), **base_changes),
        mutate(adapter(), **adapter_changes),
    )
    return specs.findings()


def test_an_adapter_of_the_base_model_is_valid(specs):
    assert _findings(specs, {}, {}) == []


@pytest.mark.parametrize(
    ("rule", "base", "changes", "path", "words", "line_text", "severity"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_rule_refuses_its_case(specs, rule, base, changes, path, words, line_text, severity):
    found = [d for d in _findings(specs, base, changes) if d.rule == rule]
    assert found, f"{rule} did not fire"
    d = found[0]
    assert d.path == path
    assert words in d.message, d.message
    assert d.severity == severity
    assert d.fix, "every finding says how to fix it"
    if line_text:
        assert d.line == specs.line_of(__import__("pathlib").Path(d.file), line_text)
    assert f"[{rule}]" in d.render()


def test_every_adapter_rule_has_a_case():
    assert sorted(RULE_IDS) == sorted({c[0] for c in CASES})


def test_the_base_gets_loras_settings_and_the_adapter_no_environment(specs):
    specs.standard(base_environment(), base_model(), adapter(), adapter("a2"))
    (env,) = specs.check().environments
    base, a1 = env.model("m1"), env.model("a1")
    assert base.adapters == ("a1", "a2")
    assert base.environment["OPTION_ENABLE_LORA"] == "true"
    # LMI's documented defaults, fixed: another adapter never changes the base's container.
    assert base.environment["OPTION_MAX_LORAS"] == "4"
    assert base.environment["OPTION_MAX_LORA_RANK"] == "16"
    assert a1.environment == {} and a1.base is not None and a1.base.name == "m1"
    assert a1.runs_on is not None and a1.runs_on.name == "pool"
    # Not in the endpoint's packing: adapters take no devices of their own.
    assert [m.name for m in env.models_on("pool")] == ["m1"]
    assert [m.name for m in env.adapters_on("pool")] == ["a1", "a2"]


def test_lora_settings_count_toward_the_16_variables(specs):
    extra = {f"OPTION_X{i}": "1" for i in range(9)}
    specs.standard(base_environment(), mutate(base_model(), spec__lmi__extraEnv=extra), adapter())
    found = [d for d in specs.errors() if d.rule == "env-vars-limit"]
    assert found and "17 environment variables" in found[0].message


def test_a_base_without_adapters_keeps_its_container(specs):
    specs.standard(base_environment(), base_model())
    (env,) = specs.check().environments
    assert "OPTION_ENABLE_LORA" not in env.model("m1").environment


def test_max_loras_alone_turns_lora_on(specs):
    specs.standard(base_environment(), mutate(base_model(), spec__lmi__maxLoras=8))
    (env,) = specs.check().environments
    assert env.model("m1").environment["OPTION_MAX_LORAS"] == "8"
    assert env.model("m1").environment["OPTION_ENABLE_LORA"] == "true"
