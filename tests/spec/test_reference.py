"""docs/spec.md is generated from the schema and the rule registry, and kept current."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from conftest import REPO
from llmdeploy.plan import check
from llmdeploy.plan.rules import RULES
from llmdeploy.spec import reference
from llmdeploy.spec.schema import schemas

DOC = REPO / "docs" / "spec.md"
STALE = f"docs/spec.md is not current: regenerate it with `{reference.REGENERATE}`"


def test_docs_spec_md_is_current():
    assert DOC.read_text() == reference.render(), STALE


def test_the_regenerate_command_prints_render():
    out = subprocess.run(
        [sys.executable, "-m", "llmdeploy.spec.reference"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == reference.render()
    assert reference.REGENERATE in out.stdout  # the doc says how it is made


def _paths(root: dict, node: dict, prefix: str = "") -> Iterator[str]:
    """Field paths as written in YAML, walked from the JSON Schema on its own (not with the
    generator's walk): objects by property, lists as `[]`, maps as `.<key>`."""
    if "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    for option in node.get("anyOf", ()):
        if option.get("type") != "null":
            yield from _paths(root, option, prefix)
    for name, prop in node.get("properties", {}).items():
        yield f"{prefix}{name}"
        yield from _paths(root, prop, f"{prefix}{name}.")
    if "items" in node:
        yield from _paths(root, node["items"], prefix.removesuffix(".") + "[].")
    values = list(node.get("patternProperties", {}).values())
    if isinstance(node.get("additionalProperties"), dict):
        values.append(node["additionalProperties"])
    for value in values:
        yield prefix + "<*>"  # a map's key, whatever the doc calls it
        yield from _paths(root, value, prefix + "<*>.")


@pytest.mark.parametrize("kind", ["Environment", "Model"])
def test_every_schema_field_path_is_in_the_doc(kind):
    schema = schemas()[kind]
    text = DOC.read_text()
    section = text.split(f"## {kind} ", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([^`]+)` \|", section, re.M))
    paths = list(dict.fromkeys(_paths(schema, schema)))
    assert len(paths) > 20
    missing = []
    for path in paths:
        pattern = re.escape(path).replace(re.escape("<*>"), "<[^>]+>")
        if not any(re.fullmatch(pattern, d) for d in documented):
            missing.append(path)
    assert not missing, f"{kind} fields not in docs/spec.md: {missing}. {STALE}"


def test_the_doc_uses_yaml_spelling():
    documented = re.findall(r"^\| `([^`]+)` \|", DOC.read_text(), re.M)
    assert "spec.lmi.maxRollingBatchSize" in documented
    assert "spec.endpoints[].instanceType" in documented
    assert "spec.lmi.extraEnv.<NAME>" in documented
    assert not [p for p in documented if "_" in p], "snake_case in a field path"


def test_every_rule_is_in_the_doc():
    text = DOC.read_text()
    missing = [r.id for r in RULES.values() if f"| `{r.id}` |" not in text]
    assert not missing, f"rules not in docs/spec.md: {missing}. {STALE}"


@pytest.mark.parametrize("kind", ["Environment", "Model"])
def test_every_field_is_described(kind):
    blank = [f.path for f in reference.fields(kind) if not f.description]
    assert not blank, (
        f"{kind} fields without a description: {blank}; give them one (description= in "
        "spec/models.py, or a note in llmdeploy.spec.reference.NOTES)"
    )


@pytest.mark.parametrize("kind", ["Environment", "Model"])
def test_notes_name_real_fields(kind):
    paths = {f.path for f in reference.fields(kind)}
    assert set(reference.NOTES[kind]) - paths == set()


def test_table_rows_keep_their_columns():
    # A `|` in a pattern (`(key|alias)`) must not split a cell.
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    assert rows
    for row in rows:
        cells = re.split(r"(?<!\\)\|", row)[1:-1]
        assert len(cells) in (2, 5), row


def test_no_html_tags_in_prose():
    # `<env>` outside a code span is an HTML tag to a Markdown renderer: it would vanish.
    outside = re.sub(r"```.*?```|`[^`\n]*`", "", DOC.read_text(), flags=re.S)
    outside = outside.replace("<!-- Generated", "")
    assert not re.findall(r"<[A-Za-z]", outside)


def test_the_examples_are_valid_specs(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "infra/prod.yaml").write_text(reference.ENVIRONMENT_EXAMPLE)
    shutil.copy(REPO / "infra/dev.yaml", tmp_path / "infra/dev.yaml")  # the override's target
    (tmp_path / "models/block-generation.yaml").write_text(reference.MODEL_EXAMPLE)
    checked = check([tmp_path / "models", tmp_path / "infra"])
    assert {e.name for e in checked.environments} == {"prod", "dev"}
    assert checked.warnings == ()
    assert reference.ENVIRONMENT_EXAMPLE in DOC.read_text()
