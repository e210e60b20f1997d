"""Values that would not mean what they say are refused where they are read: numbers in a form
other than plain decimal, non-finite numbers, digits other than 0-9, AWS tag values AWS would
refuse, CDK token syntax. Each message names the file, line, field, the value as written and
the fix; a 10 MB value is never echoed whole."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import base_environment, base_model, mutate
from llmdeploy.errors import SHOWN_CHARS, Diagnostic
from llmdeploy.spec.source import parse_documents


def _write_raw(specs, name: str, doc: dict, field_line: str, replacement: str) -> None:
    """Write ``doc`` with the line holding ``field_line`` replaced verbatim (YAML that
    yaml.safe_dump would never write, such as 0100000 unquoted)."""
    text = yaml.safe_dump(doc, sort_keys=False)
    lines = text.splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.strip().startswith(field_line)]
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index] = indent + replacement
    specs.write(name, "\n".join(lines) + "\n")


# --- numbers: plain decimal only ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "message", "fix"),
    [
        (
            "0100000",
            "YAML reads 0100000 as the octal number 32768",
            "write 100000 (YAML reads a leading 0 as octal)",
        ),
        ("0x10000", "YAML reads 0x10000 as the hexadecimal number 65536", "write 65536"),
        ("0b10000000000000000", "binary number 65536", "write 65536"),
        ("1_000_000", "YAML 1.1 reads 1_000_000 as 1000000", "write 1000000"),
        ("1:30", "YAML 1.1 reads 1:30 as a base-60 number, 90", "write 90"),
        (".inf", "YAML reads .inf as +infinity", "write a finite number"),
        ("-.inf", "YAML reads -.inf as -infinity", "write a finite number"),
        (".nan", "YAML reads .nan as not a number (NaN)", "write a finite number"),
    ],
)
def test_numbers_in_yaml_1_1_forms_are_refused_with_the_text_and_the_fix(
    specs, written, message, fix
):
    specs.standard(base_environment(), base_model())
    _write_raw(specs, "models/m1.yaml", base_model(), "memoryMiB:", f"memoryMiB: {written}")
    (d,) = specs.errors()  # once: no second "must be a whole number" for the same value
    path = specs.root / "models/m1.yaml"
    assert d.file == str(path) and d.line == specs.line_of(path, "memoryMiB:")
    assert d.path == "spec.resources.memoryMiB"
    assert message in d.message and "not a plain decimal number" in d.message
    assert d.fix.startswith(fix)
    assert f'memoryMiB: "{written}"' in d.fix  # the other reading: text, in quotes
    assert f"spec.resources.memoryMiB = {written}: " in d.render()  # as written, no quotes


@pytest.mark.parametrize(("written", "meant"), [("yes", "true"), ("No", "false"), ("OFF", "false")])
def test_yaml_1_1_booleans_are_refused_with_the_fix(specs, written, meant):
    env = mutate(base_environment(), spec__security={"networkIsolation": True})
    specs.standard(env)
    _write_raw(specs, "infra/prod.yaml", env, "networkIsolation:", f"networkIsolation: {written}")
    (d,) = specs.errors()
    assert d.path == "spec.security.networkIsolation" and d.value == written
    assert f"YAML 1.1 reads {written} as {meant}, YAML 1.2 and JSON as text" in d.message
    assert (
        d.fix
        == f'write {meant}; or, if it is text, put it in quotes: networkIsolation: "{written}"'
    )


def test_true_and_false_in_any_case_are_booleans(specs):
    env = mutate(base_environment(), spec__security={"networkIsolation": True})
    specs.standard(env)
    _write_raw(specs, "infra/prod.yaml", env, "networkIsolation:", "networkIsolation: False")
    (resolved,) = specs.check().environments
    assert resolved.doc.spec.spec.security.network_isolation is False


def test_wait_seconds_in_minutes_and_seconds_is_refused(specs):
    env = base_environment()
    env["spec"]["endpoints"][0]["rollout"] = {"waitSeconds": 600}
    specs.standard(env)
    _write_raw(specs, "infra/prod.yaml", env, "waitSeconds:", "waitSeconds: 1:30")
    (d,) = specs.errors()
    assert d.path == "spec.endpoints[0].rollout.waitSeconds"
    assert "base-60" in d.message and d.fix.startswith("write 90")


@pytest.mark.parametrize(
    ("written", "fix"),
    [("0o17", "write memoryMiB: 15"), ("09", "write memoryMiB: 9"), ("1e5", "memoryMiB: 100000")],
)
def test_number_forms_yaml_reads_as_text_get_their_decimal_in_the_fix(specs, written, fix):
    specs.standard()
    _write_raw(specs, "models/m1.yaml", base_model(), "memoryMiB:", f"memoryMiB: {written}")
    (d,) = specs.errors()
    assert d.path == "spec.resources.memoryMiB" and d.value == written
    assert fix in d.fix


def test_plain_decimals_a_leading_plus_and_quoted_text_are_read_as_written(specs):
    model = mutate(base_model(), spec__lmi__extraEnv={"OCTAL": "0100", "HEX": "0x10"})
    specs.standard(None, model)
    _write_raw(specs, "models/m1.yaml", model, "tensorParallelDegree:", "tensorParallelDegree: +1")
    (resolved,) = specs.check().environments
    spec = resolved.models[0].spec.spec
    assert spec.lmi.tensor_parallel_degree == 1
    assert dict(spec.lmi.extra_env) == {"OCTAL": "0100", "HEX": "0x10"}  # quoted: text


def test_a_refused_number_does_not_hide_the_documents_other_errors(specs):
    model = mutate(base_model(), spec__lmi__dtype="bf61")
    specs.standard(None, model)
    _write_raw(specs, "models/m1.yaml", model, "memoryMiB:", "memoryMiB: 0100000")
    paths = sorted(d.path for d in specs.errors())
    assert paths == ["spec.lmi.dtype", "spec.resources.memoryMiB"]


def test_a_refused_number_in_an_override_is_reported_once_at_the_override(specs):
    model = mutate(base_model(), spec__environments={"prod": {"copies": {"max": 3}}})
    specs.standard(None, model)
    _write_raw(specs, "models/m1.yaml", model, "max: 3", "max: 010")
    (d,) = [d for d in specs.errors() if "copies" in d.path]
    assert d.path == "spec.environments.prod.copies.max" and "octal number 8" in d.message


def test_a_refused_number_where_text_is_expected_says_to_quote(specs):
    specs.standard(mutate(base_environment(), spec__account=None))
    path = specs.root / "infra/prod.yaml"
    path.write_text(path.read_text().replace("  region:", "  account: 011112222333\n  region:"))
    (d,) = specs.errors()
    assert 'account: "011112222333"' in d.fix


@pytest.mark.parametrize("written", [".inf", ".nan", "0", "-3"])
def test_prices_are_finite_and_positive(specs, written):
    env = mutate(base_environment(), spec__pricing={"ml.g6e.12xlarge": 9.5})
    specs.standard(env)
    _write_raw(specs, "infra/prod.yaml", env, "ml.g6e.12xlarge: 9.5", f"ml.g6e.12xlarge: {written}")
    (d,) = specs.errors()
    assert d.path == "spec.pricing.ml.g6e.12xlarge"
    assert d.line == specs.line_of(specs.root / "infra/prod.yaml", f"ml.g6e.12xlarge: {written}")
    assert "finite" in d.fix or "hourly price in USD, more than 0" in d.fix
    assert json.dumps(d.to_dict(), allow_nan=False)  # never Infinity/NaN in JSON


def test_non_finite_numbers_are_refused_by_the_models_too():
    from pydantic import ValidationError

    from llmdeploy.spec.models import Autoscaling

    with pytest.raises(ValidationError, match="finite"):
        Autoscaling.model_validate({"target": math.nan})


# --- digits are ASCII --------------------------------------------------------------------------

FULL_WIDTH = (
    "１１１１２２２２３３３３"  # Python's \d and pydantic's default regex engine match these
)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"spec__account": FULL_WIDTH}, "spec.account"),
        ({"spec__account": "١١١١٢٢٢٢٣٣٣٣"}, "spec.account"),  # Arabic-Indic
        ({"spec__region": "us-east-１"}, "spec.region"),
        (
            {"spec__security": {"kmsKeyArn": f"arn:aws:kms:us-east-1:{FULL_WIDTH}:key/x"}},
            "spec.security.kmsKeyArn",
        ),
    ],
)
def test_environment_digits_must_be_0_to_9(specs, changes, path):
    specs.standard(mutate(base_environment(), **changes))
    (d,) = specs.errors()
    assert d.path == path and "is not in the expected form" in d.message
    assert d.fix.startswith("type the digits as 0-9 (")


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"spec__container__version": "０.33.0"}, "spec.container.version"),
        (
            {"spec__container__image": f"{FULL_WIDTH}.dkr.ecr.us-east-1.amazonaws.com/x:1"},
            "spec.container.image",
        ),
        ({"spec__source": {"huggingFaceId": "org/llama-３"}}, "spec.source.huggingFaceId"),
        ({"spec__source": {"huggingFaceId": "org/mödel"}}, "spec.source.huggingFaceId"),
    ],
)
def test_model_digits_and_names_must_be_ascii(specs, changes, path):
    specs.standard(None, mutate(base_model(), **changes))
    assert path in {d.path for d in specs.errors()}


def test_no_spec_pattern_uses_unicode_classes():
    from llmdeploy.spec.schema import schemas

    text = json.dumps(schemas())
    assert "\\\\d" not in text and "\\\\w" not in text


# --- AWS tag values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "shown"),
    [
        ("ml\tteam", "'\\t' (a control character, U+0009) at character 3"),
        ("ml;team", "';' (semicolon, U+003B)"),
        ("<ml>", "'<' (less-than sign, U+003C) at character 1"),
        ("ml\x00", "U+0000"),
        ("ml\nteam", "U+000A"),
    ],
)
def test_owner_must_be_a_valid_aws_tag_value(specs, owner, shown):
    specs.standard(None, mutate(base_model(), metadata__owner=owner))
    (d,) = specs.errors()
    path = specs.root / "models/m1.yaml"
    assert d.path == "metadata.owner" and d.value == owner
    assert d.line == specs.line_of(path, "owner:")
    assert d.message.startswith("is not a valid AWS tag value: ") and shown in d.message
    assert d.fix == "use only letters, digits, spaces and _ . : / = + - @ (it becomes an AWS tag)"


def test_owner_may_use_any_letters_spaces_and_tag_symbols(specs):
    specs.standard(None, mutate(base_model(), metadata__owner="Équipe ML_1 a.b:c/d=e+f-g@h"))
    specs.check()


def test_every_name_that_becomes_a_tag_fits_the_tag_pattern():
    # Environment, endpoint and model names are `Name`s; the tag pattern must hold for them.
    import re

    from llmdeploy.spec.models import Name

    name_pattern = Name.__metadata__[0].pattern
    assert re.fullmatch(r"\^\[a-z0-9\]\(-\?\[a-z0-9\]\)\*\$", name_pattern)


# --- CDK tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "value"),
    [
        ({"metadata__owner": "${Token[TOKEN.1]}"}, "metadata.owner", "${Token[TOKEN.1]}"),
        (
            {"spec__lmi__extraEnv": {"OPTION_A": "x#{Token[TOKEN.22]}"}},
            "spec.lmi.extraEnv.OPTION_A",
            "x#{Token[TOKEN.22]}",
        ),
        (
            {"spec__source": {"s3Uri": "s3://b/${Token[AWS.AccountId.4]}/"}},
            "spec.source.s3Uri",
            "s3://b/${Token[AWS.AccountId.4]}/",
        ),
        (
            {"spec__lmi__extraEnv": {"OPTION_N": "-1.8881545897087626e+289"}},
            "spec.lmi.extraEnv.OPTION_N",
            "-1.8881545897087626e+289",
        ),
    ],
)
def test_cdk_token_syntax_is_refused_in_any_string(specs, changes, path, value):
    specs.standard(None, mutate(base_model(), **changes))
    (d,) = specs.errors()
    assert d.path == path and d.value == value
    assert "holds CDK token syntax" in d.message and "resolve it as a reference" in d.message
    assert d.fix.startswith("remove the token")


def test_cdk_token_syntax_in_an_environment(specs):
    specs.standard(mutate(base_environment(), spec__stackPrefix="p-${Token[X]}"))
    assert "spec.stackPrefix" in {d.path for d in specs.errors() if "CDK token" in d.message}


# --- long values are never echoed whole ----------------------------------------------------------


def test_a_10_mb_value_is_echoed_cut_short(specs):
    huge = "x" * 10_000_000
    specs.standard()
    text = (specs.root / "models/m1.yaml").read_text()
    text = text.replace("owner: team", f"owner: {huge}").replace("dtype: bf16", f"dtype: {huge}")
    (specs.root / "models/m1.yaml").write_text(text)
    errors = specs.errors()
    assert {d.path for d in errors} == {"metadata.owner", "spec.lmi.dtype"}
    for d in errors:
        text = d.render()
        assert len(text) < 1500 and "x" * SHOWN_CHARS + "…" in text
        assert len(json.dumps(d.to_dict())) < 2000


def test_a_10_mb_key_is_echoed_cut_short(specs):
    specs.standard()
    path = specs.root / "models/m1.yaml"
    # YAML's plain keys end at 1024 characters; an explicit key (`? key`) has no limit.
    key = "k" * 10_000_000
    path.write_text(path.read_text().replace("  lmi:", f"  ? {key}\n  : 1\n  lmi:"))
    (d,) = specs.errors()
    assert len(d.render()) < 2000 and "…" in d.render()


def test_long_numbers_and_tokens_are_cut_short_too():
    _, (d,) = parse_documents("a: 0" + "7" * 100_000 + "\n", "f.yaml")
    assert len(d.render()) < 1000
    _, (t,) = parse_documents('a: "' + "y" * 100_000 + '${Token[X]}"\n', "f.yaml")
    assert len(t.render()) < 1000 and "CDK token" in t.message


def test_rendering_clips_whatever_a_diagnostic_holds():
    d = Diagnostic("f.yaml", 1, 1, "p" * 5000, "m" * 5000, value=["v" * 5000] * 50, fix="f" * 5000)
    assert len(d.render()) < 2500
    assert len(json.dumps(d.to_dict())) < 5000


def test_container_environment_names_and_values_follow_sagemaker(specs):
    # One-letter names are SageMaker names too; a NUL in a value is a paste error.
    model = mutate(base_model(), spec__lmi__extraEnv={"X": "1", "NOTE": "a\x00b"})
    specs.standard(None, model)
    (d,) = specs.errors()
    assert d.path == "spec.lmi.extraEnv.NOTE"
    assert d.fix.startswith("remove the control characters")
