"""docs/constructs-api.md is generated from the constructs' docstrings, and kept current."""

from __future__ import annotations

import enum
import inspect
import re
import subprocess
import sys

import pytest
from aws_cdk import Duration

from conftest import REPO
from llmdeploy import constructs
from llmdeploy.constructs import reference

DOC = REPO / "docs" / "constructs-api.md"
STALE = f"docs/constructs-api.md is not current: regenerate it with `{reference.REGENERATE}`"
PUBLIC = [getattr(constructs, name) for name in constructs.__all__]


def _section(name: str) -> str:
    text = DOC.read_text()
    assert f"### `{name}`\n" in text, f"{name} has no section in docs/constructs-api.md. {STALE}"
    return text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]


def test_docs_constructs_api_md_is_current():
    assert DOC.read_text() == reference.render(), STALE


def test_the_regenerate_command_prints_render():
    out = subprocess.run(
        [sys.executable, "-m", "llmdeploy.constructs.reference"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == reference.render()
    assert reference.REGENERATE in out.stdout  # the doc says how it is made


def test_render_is_deterministic():
    first = reference.render()
    assert reference.render() == first
    assert not re.search(r" at 0x[0-9a-f]+", first), "a default rendered with its address"


@pytest.mark.parametrize("name", constructs.__all__)
def test_every_public_name_has_a_section_in_one_group(name):
    _section(name)
    placed = [c.__name__ for _, _, classes in reference.grouped() for c in classes]
    assert placed.count(name) == 1
    index = DOC.read_text().split("\n## ", 1)[0]
    assert f"[`{name}`](#{name.lower()})" in index


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_every_constructor_prop_is_in_the_props_table(cls):
    if issubclass(cls, enum.Enum) or re.fullmatch(r"I[A-Z]\w+", cls.__name__):
        pytest.skip("enums and interfaces have no constructor props")
    section = _section(cls.__name__)
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    expected = [p.name for p in reference.props(cls)]
    assert documented == expected, f"{cls.__name__}: {STALE}"


def test_the_props_read_as_written_in_the_source():
    llm = _section("LlmEndpoint")
    assert "    vpc: ec2.IVpc | None = None," in llm
    assert "    instances: Counts = Counts(min=0, initial=1, max=1)," in llm
    assert "log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH" in llm
    assert "| `instance_type` | `InstanceType \\| str` | **required** | the instances" in llm
    rollout = _section("EndpointRollout")
    assert "wait: Duration = Duration.minutes(10)," in rollout  # a factory, rendered as code


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_every_public_method_property_and_importer_is_listed(cls):
    section = _section(cls.__name__)
    for member in reference.members(cls):
        qualified = f"`{cls.__name__}.{member.name}" if member.kind == "static" else None
        assert f"`{member.name}" in section or (qualified and qualified in section), (
            f"{cls.__name__}.{member.name}: {STALE}"
        )


def test_importers_and_helpers_of_the_l2_api_are_there():
    text = DOC.read_text()
    for name in (
        "LlmEndpoint.from_endpoint_name(",
        "LlmEndpoint.from_endpoint_arn(",
        "LlmEndpoint.from_endpoint_attributes(",
        "DedicatedEndpoint.from_endpoint_arn(",
        "InferenceComponent.from_inference_component_name(",
        "grant_invoke(grantee: iam.IGrantable)",
        "metric_model_latency(props: cw.MetricOptions | None = None)",
        "ContainerImage.djl_lmi(",
        "ModelData.from_bucket(",
    ):
        assert name in text, name
    assert "`ModelData.from_s3`: an alias of `ModelData.from_s3_uri`" in text


def test_param_lines_become_props_descriptions():
    doc = reference.parse(
        """Intro, ``code``.

        Second <paragraph>.

        :param a, b: shared
            and continued.
        :param c: alone.
        """
    )
    assert doc.paragraphs == ("Intro, `code`.", "Second &lt;paragraph&gt;.")
    assert doc.params == {"a": "shared and continued.", "b": "shared and continued.", "c": "alone."}


def test_durations_render_as_the_code_that_makes_them():
    assert reference.value(Duration.minutes(10)) == "Duration.minutes(10)"
    assert reference.value(Duration.seconds(90)) == "Duration.seconds(90)"
    assert reference.value(Duration.hours(2)) == "Duration.hours(2)"
    assert reference.value(Duration.millis(800)) == "Duration.millis(800)"
    with pytest.raises(ValueError, match="no deterministic rendering"):
        reference.value(object())


def test_table_rows_keep_their_columns():
    # A `|` in a type (`InstanceType | str`) must not split a cell.
    for row in (line for line in DOC.read_text().splitlines() if line.startswith("| `")):
        cells = re.split(r"(?<!\\)\|", row)[1:-1]
        assert len(cells) in (2, 3, 4), row


def test_no_html_tags_in_prose():
    outside = re.sub(r"```.*?```|`[^`\n]*`", "", DOC.read_text(), flags=re.S)
    outside = outside.replace("<!-- Generated", "")
    assert not re.findall(r"<[A-Za-z]", outside)


def test_every_constructor_is_introspectable():
    # The reference reads signatures: a construct taking **kwargs would hide its props.
    for cls in PUBLIC:
        if issubclass(cls, enum.Enum) or re.fullmatch(r"I[A-Z]\w+", cls.__name__):
            continue
        params = inspect.signature(cls.__init__).parameters.values()
        assert not any(p.kind is p.VAR_KEYWORD for p in params), cls.__name__
